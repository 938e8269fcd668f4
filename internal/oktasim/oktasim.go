// Package oktasim simulates the Okta MCP server (kapilduraphe/okta-mcp-server)
// for `toolgate demo` and for tests that need a realistic upstream.
//
// A [Sim] serves the real server's 21 tools, with their exact names,
// descriptions and input schemas, over an in-memory directory of users,
// groups and applications. The directory starts as a small, deterministic
// organisation (Northwind Labs), and the tools really read and change it:
// a user created by one call is listed by the next, and
// provision_applications adds application assignments that get_user shows.
// Nothing is random, so demos and tests repeat exactly.
//
// Results are text content in the style of the real server. Failures (an
// unknown user, an invalid status transition, bad CSV) are tool results with
// IsError set and one message that says what was wrong, never protocol errors.
package oktasim

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// catalogJSON is the real server's tools/list, served unchanged.
//
//go:embed okta-mcp-server-tools.json
var catalogJSON []byte

// toolDef is one entry of catalogJSON. The schema stays raw so that the
// SDK sends it byte for byte instead of a re-derived schema.
type toolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

// catalog is catalogJSON decoded, in file order.
var catalog = loadCatalog()

func loadCatalog() []toolDef {
	var doc struct {
		Tools []toolDef `json:"tools"`
	}
	// The file is embedded and covered by tests, so a failure here is a
	// build defect, not bad input.
	if err := json.Unmarshal(catalogJSON, &doc); err != nil {
		panic(fmt.Sprintf("oktasim: embedded tool catalog: %v", err))
	}
	for _, t := range doc.Tools {
		if _, ok := tools[t.Name]; !ok {
			panic(fmt.Sprintf("oktasim: tool %q in the catalog has no implementation", t.Name))
		}
	}
	if len(doc.Tools) != len(tools) {
		panic(fmt.Sprintf("oktasim: catalog has %d tools, implementation has %d", len(doc.Tools), len(tools)))
	}
	return doc.Tools
}

// Options configures a [Sim]. A nil *Options is the same as the zero value.
type Options struct {
	// Now, if set, stamps every change (created, lastUpdated, statusChanged
	// and so on). It is called with the Sim's lock held, so it must not
	// call back into the Sim. If nil, a deterministic clock is used: it
	// starts at the seeded organisation's reference time and advances one
	// second per reading, so repeated runs print the same timestamps.
	Now func() time.Time
}

// Sim is a simulated Okta organisation and the MCP tools that act on it.
//
// A Sim is safe for concurrent use: every tool call runs under one lock,
// so each call sees and leaves a consistent directory. All servers returned
// by [Sim.Server] share the Sim's directory and call counters. Create a Sim
// with [New]; the zero value is not usable.
type Sim struct {
	// calls counts tools/call requests per tool name. The map is fixed in
	// New and only its values change, so reading it needs no lock.
	calls map[string]*atomic.Int64

	mu  sync.Mutex
	dir *directory // guarded by mu
}

// New returns a Sim whose directory holds the seeded organisation: 36 users
// (mostly active, plus staged, provisioned, suspended and deactivated ones),
// 11 groups and 12 applications with realistic assignments. opts may be nil.
func New(opts *Options) *Sim {
	if opts == nil {
		opts = &Options{}
	}
	now := opts.Now
	if now == nil {
		now = stepClock()
	}
	s := &Sim{
		calls: make(map[string]*atomic.Int64, len(catalog)),
		dir:   seedDirectory(now),
	}
	for _, t := range catalog {
		s.calls[t.Name] = new(atomic.Int64)
	}
	return s
}

// stepClock is the default clock: seedTime, then one second later at each
// reading. Like everything the directory calls, it runs under Sim.mu.
func stepClock() func() time.Time {
	t := seedTime
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

// Server returns a new MCP server that serves the simulated Okta tools over
// this Sim's directory. Each call returns a distinct *mcp.Server, so it can
// be run on its own transport, but all of them read and change the same
// organisation. Server is safe to call concurrently.
func (s *Sim) Server() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "okta-mcp-server", Version: "1.0.0"},
		&mcp.ServerOptions{Instructions: s.instructions()})
	for _, t := range catalog {
		srv.AddTool(&mcp.Tool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema}, s.handler(t.Name))
	}
	return srv
}

// instructions names the applications, because none of the 21 tools lists
// them and an agent needs their IDs to call provision_applications.
func (s *Sim) instructions() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString("Simulated Okta organisation (Northwind Labs) for the Toolgate demo. Applications:")
	for _, a := range s.dir.sortedApps() {
		fmt.Fprintf(&b, " %s (%s);", a.label, a.id)
	}
	b.WriteString(" use list_users and list_groups to find user and group IDs.")
	return b.String()
}

// handler adapts one tool implementation to the SDK: it counts the call,
// decodes the raw arguments and runs the tool under the lock.
func (s *Sim) handler(name string) mcp.ToolHandler {
	t := tools[name]
	n := s.calls[name]
	return func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		n.Add(1)
		var raw json.RawMessage
		if req != nil && req.Params != nil {
			raw = req.Params.Arguments
		}
		a, err := decodeArgs(raw)
		if err == nil {
			var text string
			s.mu.Lock()
			text, err = t.run(s.dir, a)
			s.mu.Unlock()
			if err == nil {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
			}
		}
		return &mcp.CallToolResult{
			Content: []mcp.Content{&mcp.TextContent{Text: "Failed to " + t.action + ": " + err.Error()}},
			IsError: true,
		}, nil
	}
}

// Calls reports how many tools/call requests for the named tool have reached
// this Sim, through any of its servers, whether they succeeded or not. It
// returns 0 for a name that is not one of the 21 tools. Calls is safe to use
// concurrently with tool calls.
func (s *Sim) Calls(tool string) int64 {
	if n, ok := s.calls[tool]; ok {
		return n.Load()
	}
	return 0
}

// Assignments reports how many (user, application) assignments the
// directory holds now, seeded ones included.
func (s *Sim) Assignments() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.dir.apps {
		n += len(a.users)
	}
	return n
}

// UserIDs returns the IDs of every user in the directory, in creation order.
func (s *Sim) UserIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ids(s.dir.sortedUsers())
}

// UserID returns the ID of the user whose login (or ID) is ref, compared
// without regard to case, and whether there is one.
func (s *Sim) UserID(ref string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.dir.user(ref)
	if err != nil {
		return "", false
	}
	return u.id, true
}

// GroupIDs returns the IDs of every group in the directory, in creation
// order; the built-in Everyone group comes first.
func (s *Sim) GroupIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ids(s.dir.sortedGroups())
}

// AppIDs returns the IDs of every application in the directory, in
// creation order.
func (s *Sim) AppIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ids(s.dir.sortedApps())
}

// ToolNames returns the names of the simulated tools in the order of the
// real server's tools/list.
func ToolNames() []string {
	names := make([]string, len(catalog))
	for i, t := range catalog {
		names[i] = t.Name
	}
	return names
}

func ids[T interface{ ident() string }](xs []T) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, x.ident())
	}
	return out
}
