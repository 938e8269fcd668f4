package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/pgtest"
)

// pgSchema returns the test PostgreSQL URL and a fresh schema for one
// test's gateways to share, dropped when the test ends; it skips the test
// without TOOLGATE_TEST_POSTGRES.
func pgSchema(t *testing.T) (string, string) { return pgtest.Schema(t, "gw") }

// TestSharedPolicyAcrossReplicas: two replicas on one PostgreSQL. A policy
// saved through one replica's admin API is applied by the other; an edit
// of the other's policy file reaches the first; and a save from a stale
// version is refused on either.
func TestSharedPolicyAcrossReplicas(t *testing.T) {
	url, schema := pgSchema(t)
	extra := fmt.Sprintf(`"postgres": %q, "postgres_schema": %q,`, url, schema)
	allowGet := `{"version": "1", "default": "deny", "tools": {"get_user": {}}}`
	a := startWith(t, allowGet, extra)
	b := startWith(t, `{"version": "1", "default": "deny"}`, extra) // its file loses: a seeded first
	ctx := context.Background()
	user := a.sim.UserIDs()[0]
	allowed := func(h *harness) bool {
		cs := h.connect()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_user", Arguments: map[string]any{"userId": user}})
		return err == nil && !res.IsError
	}
	if !allowed(a) || !allowed(b) {
		t.Fatal("get_user not allowed on both replicas under the first shared policy")
	}

	var view PolicyView
	if code := b.api("GET", "/api/v1/servers/okta/policy", nil, &view); code != 200 || !strings.Contains(view.Text, "get_user") {
		t.Fatalf("GET policy on b = %d %+v; want the shared one", code, view)
	}
	deny := `{"version": "1", "default": "deny", "tools": {"get_user": {"action": "deny", "reason": "frozen"}}}`
	var saved struct{ Version string }
	if code := a.api("PUT", "/api/v1/servers/okta/policy", map[string]string{"text": deny, "version": view.Version}, &saved); code != 200 {
		t.Fatalf("PUT on a = %d", code)
	}
	waitFor(t, "b to apply a's policy", func() bool { return !allowed(b) })
	if allowed(a) {
		t.Error("a does not apply its own save")
	}
	var refused map[string]any
	if code := b.api("PUT", "/api/v1/servers/okta/policy", map[string]string{"text": allowGet, "version": view.Version}, &refused); code != 409 || refused["version"] != saved.Version {
		t.Errorf("stale PUT on b = %d %v; want 409 with the current version", code, refused)
	}

	// An operator edits b's file: every replica follows.
	writeFile(t, filepath.Join(b.dir, "okta.json"), allowGet)
	waitFor(t, "a to apply b's file edit", func() bool { return allowed(a) })
	if !allowed(b) {
		t.Error("b does not apply its own file edit")
	}
}
