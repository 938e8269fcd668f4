package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/oktasim"
)

// harness runs a gateway in front of the Okta simulator, configured from a
// real config file in a temporary directory.
type harness struct {
	t      *testing.T
	dir    string
	sim    *oktasim.Sim
	g      *Gateway
	url    string // the okta server's Streamable HTTP endpoint
	admin  string // the admin base URL
	cancel context.CancelFunc
	done   chan error
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	// Write then rename, as editors do, so a reload never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, policyJSON string) *harness {
	t.Helper()
	return startWith(t, policyJSON, "")
}

// startWith adds extra top-level config fields (`"key": value,`).
func startWith(t *testing.T, policyJSON, extra string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), sim: oktasim.New(nil)}
	upstream := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return h.sim.Server() }, nil))
	t.Cleanup(upstream.Close)
	writeFile(t, filepath.Join(h.dir, "okta.json"), policyJSON)
	writeFile(t, filepath.Join(h.dir, "toolgate.json"), `{
  "listen": "127.0.0.1:0",
  "auth": "none",`+extra+`
  "admin": {"listen": "127.0.0.1:0"},
  "mcpServers": {"okta": {"url": "`+upstream.URL+`", "policy": "okta.json"}}
}`)
	cfg, err := config.Load(filepath.Join(h.dir, "toolgate.json"), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	h.g, err = New(cfg, &Options{PollInterval: 20 * time.Millisecond, Notice: io.Discard, Getenv: testGetenv})
	if err != nil {
		t.Fatal(err)
	}
	h.run("okta")
	return h
}

// run serves h.g and points h.url at server's endpoint.
func (h *harness) run(server string) {
	t := h.t
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	addrs := make(chan [2]net.Addr, 1)
	go func() {
		h.done <- h.g.Run(ctx, func(agent, admin net.Addr) { addrs <- [2]net.Addr{agent, admin} })
	}()
	select {
	case a := <-addrs:
		h.url = "http://" + a[0].String() + "/mcp/" + server
		h.admin = "http://" + a[1].String()
	case err := <-h.done:
		t.Fatalf("gateway did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// testAdminToken is the harness gateways' admin token.
const testAdminToken = "tga_test-admin-token"

func testGetenv(k string) (string, bool) {
	if k == AdminTokenEnv {
		return testAdminToken, true
	}
	return os.LookupEnv(k)
}

// api calls the admin API with the admin token and decodes the JSON
// answer into out (when not nil), returning the status code.
func (h *harness) api(method, path string, body any, out any) int {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.admin+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s = %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func (h *harness) connect() *mcp.ClientSession {
	h.t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: h.url}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	h.t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func callText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatalf("tools/list: %v", err)
		}
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

const enforcedPolicy = `{
  "version": "1",
  "default": "deny",
  "hide": ["delete_*"],
  "tools": {
    "get_user": {},
    "list_users": {"require": ["has(args.limit) && args.limit <= 50"], "reason": "list at most 50 users at a time"},
    "deactivate_user": {"action": "deny", "reason": "deactivations go through the IAM team"},
    "suspend_user": {"action": "deny"},
    "provision_applications": {"deny_if": ["size(args.userIds) > 3"], "reason": "at most 3 users per call"}
  }
}`

func TestEnforcesPolicy(t *testing.T) {
	h := start(t, enforcedPolicy)
	cs := h.connect()
	ctx := context.Background()

	// Listed: allowed tools and tools denied with a reason. Not listed:
	// hidden ones, denials without a reason, and the default-denied rest.
	want := []string{"deactivate_user", "get_user", "list_users", "provision_applications"}
	if got := toolNames(t, cs); !slices.Equal(got, want) {
		t.Errorf("tools/list = %v; want %v", got, want)
	}

	users := h.sim.UserIDs()
	cases := []struct {
		name     string
		tool     string
		args     map[string]any
		wantErr  string // a protocol error containing this
		wantDeny string // an isError result containing this
	}{
		{name: "allowed", tool: "get_user", args: map[string]any{"userId": users[0]}},
		{name: "explicit deny with reason", tool: "deactivate_user", args: map[string]any{"userId": users[0]}, wantDeny: "deactivations go through the IAM team"},
		{name: "explicit deny without reason", tool: "suspend_user", args: map[string]any{"userId": users[0]}, wantDeny: "suspend_user"},
		{name: "default deny", tool: "create_group", args: map[string]any{"name": "x"}, wantDeny: "create_group"},
		{name: "hidden", tool: "delete_user", args: map[string]any{"userId": users[0]}, wantErr: `unknown tool "delete_user"`},
		{name: "nonexistent", tool: "drop_database", wantErr: `unknown tool "drop_database"`},
		{name: "require holds", tool: "list_users", args: map[string]any{"limit": 5}},
		{name: "require fails", tool: "list_users", args: map[string]any{"limit": 500}, wantDeny: "list at most 50 users at a time"},
		{name: "require missing arg", tool: "list_users", wantDeny: "list_users"},
		{name: "deny_if false", tool: "provision_applications", args: map[string]any{"userIds": users[:2], "applicationIds": h.sim.AppIDs()[:1]}},
		{name: "deny_if true", tool: "provision_applications", args: map[string]any{"userIds": users[:4], "applicationIds": h.sim.AppIDs()[:1]}, wantDeny: "at most 3 users per call"},
		{name: "case confusion is another tool", tool: "GET_USER", args: map[string]any{"userId": users[0]}, wantErr: `unknown tool "GET_USER"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
			switch {
			case tc.wantErr != "":
				var we *jsonrpc.Error
				if !errors.As(err, &we) || !strings.Contains(we.Message, tc.wantErr) {
					t.Fatalf("CallTool(%s) = %v, %v; want protocol error %q", tc.tool, res, err, tc.wantErr)
				}
			case tc.wantDeny != "":
				if err != nil || !res.IsError {
					t.Fatalf("CallTool(%s) = %v, %v; want an isError denial", tc.tool, res, err)
				}
				text := callText(res)
				if !strings.Contains(text, tc.wantDeny) || !strings.Contains(text, tc.tool) || strings.Contains(text, h.dir) {
					t.Errorf("denial %q: want the tool, %q, and no paths", text, tc.wantDeny)
				}
			default:
				if err != nil || res.IsError {
					t.Fatalf("CallTool(%s) = %v (%q), %v; want success", tc.tool, res, callTextOrEmpty(res), err)
				}
			}
		})
	}
	// Only allowed calls reached the upstream.
	for tool, want := range map[string]int64{"get_user": 1, "list_users": 1, "provision_applications": 1, "deactivate_user": 0, "delete_user": 0, "create_group": 0, "suspend_user": 0} {
		if got := h.sim.Calls(tool); got != want {
			t.Errorf("upstream received %d %s calls; want %d", got, tool, want)
		}
	}
}

func callTextOrEmpty(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	return callText(res)
}

func TestSeedPolicyLoadsUnchanged(t *testing.T) {
	h := start(t, `{ "version": "1", "default": "deny",
  "tools": { "provision_applications": { "limits": [
      { "counter": "provision_applications_rate", "window": "minute", "max": 30, "scope": "grant" } ] } } }`)
	cs := h.connect()
	if got := toolNames(t, cs); !slices.Equal(got, []string{"provision_applications"}) {
		t.Errorf("tools/list = %v; want only provision_applications", got)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_user", Arguments: map[string]any{"userId": "x"}})
	if err != nil || !res.IsError {
		t.Errorf("get_user under the seed policy = %v, %v; want a denial", res, err)
	}
}

func TestReloadKeepsOldPolicyOnError(t *testing.T) {
	h := start(t, `{"version": "1", "default": "deny", "tools": {"get_user": {}}}`)
	cs := h.connect()
	ctx := context.Background()
	user := h.sim.UserIDs()[0]
	allowed := func(tool string, args map[string]any) bool {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		return !res.IsError
	}
	if !allowed("get_user", map[string]any{"userId": user}) {
		t.Fatal("get_user denied under the first policy")
	}

	// An invalid policy is rejected; the old one keeps serving.
	before := h.g.Reloads()
	writeFile(t, filepath.Join(h.dir, "okta.json"), `{"version": "1", "default": "deny", "tools": {"get_user": {"action": "maybe"}}}`)
	if err := h.g.Reload(); err == nil || !strings.Contains(err.Error(), "okta.json:1:") {
		t.Fatalf("Reload of an invalid policy = %v; want a positioned error", err)
	}
	if h.g.Reloads() != before {
		t.Errorf("a rejected reload was counted")
	}
	if !allowed("get_user", map[string]any{"userId": user}) {
		t.Fatal("get_user denied after a rejected reload; the old policy must keep serving")
	}

	// A valid change is picked up by the file watcher, without a signal.
	writeFile(t, filepath.Join(h.dir, "okta.json"), `{"version": "1", "default": "deny", "tools": {"list_groups": {}}}`)
	waitFor(t, "the watcher to load the new policy", func() bool { return !allowed("get_user", map[string]any{"userId": user}) })
	if !allowed("list_groups", nil) {
		t.Error("list_groups denied under the new policy")
	}
}

func TestReadyz(t *testing.T) {
	h := start(t, `{"version": "1", "default": "allow"}`)
	waitFor(t, "readyz", func() bool {
		resp, err := http.Get(h.admin + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	resp, err := http.Get(h.admin + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %v, %v", resp, err)
	}
	resp.Body.Close()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadKeepsBudgets reloads the policy: a limit the reload leaves as
// it was keeps its budget; a changed limit starts a budget of its own.
func TestReloadKeepsBudgets(t *testing.T) {
	limited := `{"version": "1", "default": "deny", "tools": {"get_user": {"limits": [{"counter": "reads", "window": "hour", "max": 2}]}%s}}`
	h := start(t, fmt.Sprintf(limited, ""))
	cs := h.connect()
	user := h.sim.UserIDs()[0]
	call := func() (admitted bool) {
		t.Helper()
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_user", Arguments: map[string]any{"userId": user}})
		if err != nil {
			t.Fatal(err)
		}
		if res.IsError && !strings.Contains(callText(res), "limit reads reached") {
			t.Fatalf("unexpected denial: %s", callText(res))
		}
		return !res.IsError
	}
	first, second, third := call(), call(), call()
	if !first || !second || third {
		t.Fatal("want two calls admitted, then the third limited")
	}
	writeFile(t, filepath.Join(h.dir, "okta.json"), fmt.Sprintf(limited, `, "list_groups": {}`))
	if err := h.g.Reload(); err != nil {
		t.Fatal(err)
	}
	if call() {
		t.Error("a reload that left the limit unchanged reset its budget")
	}
	writeFile(t, filepath.Join(h.dir, "okta.json"), strings.Replace(fmt.Sprintf(limited, ""), `"max": 2`, `"max": 3`, 1))
	if err := h.g.Reload(); err != nil {
		t.Fatal(err)
	}
	if !call() {
		t.Error("a changed limit did not get a budget of its own")
	}
}

// TestConfigReloadAddsAndRemovesServers edits the config file: a server
// added is served at once, one removed is gone.
func TestConfigReloadAddsAndRemovesServers(t *testing.T) {
	h := start(t, `{"version": "1", "default": "allow"}`)
	other := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return oktasim.New(nil).Server() }, nil))
	t.Cleanup(other.Close)
	cfgPath := h.g.Config().Path
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	added := strings.Replace(string(data), `"mcpServers": {`, `"mcpServers": {"second": {"url": "`+other.URL+`"}, `, 1)
	writeFile(t, cfgPath, added)
	if err := h.g.Reload(); err != nil {
		t.Fatal(err)
	}
	second := strings.Replace(h.url, "/mcp/okta", "/mcp/second", 1)
	c := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: second}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect to the added server: %v", err)
	}
	cs.Close()
	writeFile(t, cfgPath, string(data))
	if err := h.g.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(second, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("removed server answered %d; want 404", resp.StatusCode)
	}
}
