// Package pinstate is the logic every catalog.PinStore shares: checking the
// arguments, and what an observation or an acceptance does to a pin. The
// stores only read and write rows, inside a transaction that keeps other
// writers of the same tool out.
package pinstate

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/catalog"
)

// maxName bounds server and tool names, which are keys of the stores.
const maxName = 1024

// Observation is a checked call of Observe.
type Observation struct {
	Server, Tool string
	Digest       string
	Definition   []byte
	At           time.Time // UTC, to the microsecond
}

// Observe checks Observe's arguments and returns the observation.
func Observe(server string, t *mcp.Tool, digest string, at time.Time) (*Observation, error) {
	if t == nil {
		return nil, fmt.Errorf("observe: %w: nil tool", catalog.ErrInvalidPin)
	}
	if err := CheckNames(server, t.Name); err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	at, err := Time(at)
	if err != nil {
		return nil, fmt.Errorf("observe %s/%s: %w", server, t.Name, err)
	}
	def := catalog.Definition(t)
	if d := catalog.DefinitionDigest(def); d != digest {
		return nil, fmt.Errorf("observe %s/%s: %w: digest %q is not the tool's (%s)", server, t.Name, catalog.ErrInvalidPin, digest, d)
	}
	return &Observation{Server: server, Tool: t.Name, Digest: digest, Definition: def, At: at}, nil
}

// CheckNames checks a server and a tool name.
func CheckNames(server, tool string) error {
	for _, n := range []struct{ what, s string }{{"server", server}, {"tool", tool}} {
		switch {
		case n.s == "":
			return fmt.Errorf("%w: empty %s name", catalog.ErrInvalidPin, n.what)
		case len(n.s) > maxName:
			return fmt.Errorf("%w: %s name longer than %d bytes", catalog.ErrInvalidPin, n.what, maxName)
		case !utf8.ValidString(n.s) || strings.ContainsRune(n.s, 0):
			return fmt.Errorf("%w: %s name is not UTF-8 without NUL", catalog.ErrInvalidPin, n.what)
		}
	}
	return nil
}

// Time returns at in UTC to the microsecond, as stores keep it, or an error
// for a time not after 1970.
func Time(at time.Time) (time.Time, error) {
	if at.UnixMicro() <= 0 {
		return time.Time{}, fmt.Errorf("%w: time %v is not after 1970", catalog.ErrInvalidPin, at)
	}
	return time.UnixMicro(at.UnixMicro()).UTC(), nil
}

// Apply returns the pin after the observation o of the tool whose pin is
// cur (nil for a tool not seen before), and whether it differs from cur.
func Apply(cur *catalog.Pin, o *Observation) (catalog.Pin, bool) {
	switch {
	case cur == nil:
		return Finish(catalog.Pin{
			Server: o.Server, Tool: o.Tool,
			Digest: o.Digest, Definition: o.Definition,
			FirstSeen: o.At,
		}), true
	case cur.Digest == o.Digest:
		p := *cur
		p.Pending = nil
		return Finish(p), cur.Pending != nil
	case cur.Pending != nil && cur.Pending.Digest == o.Digest:
		return Finish(*cur), false
	}
	p := *cur
	p.Pending = &catalog.PendingChange{Digest: o.Digest, Definition: o.Definition, SeenAt: o.At}
	return Finish(p), true
}

// Accept returns the pin after accepting the pending change whose digest is
// digest, or cur and ErrNotPending or ErrStale.
func Accept(cur catalog.Pin, digest, by string, at time.Time) (catalog.Pin, error) {
	switch {
	case cur.Pending == nil:
		return Finish(cur), fmt.Errorf("accept %s/%s: %w", cur.Server, cur.Tool, catalog.ErrNotPending)
	case cur.Pending.Digest != digest:
		return Finish(cur), fmt.Errorf("accept %s/%s: %w: %s is pending, not %s", cur.Server, cur.Tool, catalog.ErrStale, cur.Pending.Digest, digest)
	}
	p := cur
	p.Digest, p.Definition = cur.Pending.Digest, cur.Pending.Definition
	p.AcceptedAt, p.AcceptedBy = at, by
	p.Pending = nil
	return Finish(p), nil
}

// CheckAccept checks Accept's arguments and returns at as stores keep it.
func CheckAccept(server, tool, digest, by string, at time.Time) (time.Time, error) {
	if err := CheckNames(server, tool); err != nil {
		return time.Time{}, fmt.Errorf("accept: %w", err)
	}
	switch {
	case digest == "":
		return time.Time{}, fmt.Errorf("accept %s/%s: %w: empty digest", server, tool, catalog.ErrInvalidPin)
	case by == "" || !utf8.ValidString(by) || strings.ContainsRune(by, 0) || len(by) > maxName:
		return time.Time{}, fmt.Errorf("accept %s/%s: %w: who accepts must be named, in UTF-8 without NUL, in at most %d bytes", server, tool, catalog.ErrInvalidPin, maxName)
	}
	at, err := Time(at)
	if err != nil {
		return time.Time{}, fmt.Errorf("accept %s/%s: %w", server, tool, err)
	}
	return at, nil
}

// Finish sets p's Status from its Pending and returns it.
func Finish(p catalog.Pin) catalog.Pin {
	p.Status = catalog.StatusPinned
	if p.Pending != nil {
		p.Status = catalog.StatusChanged
	}
	return p
}
