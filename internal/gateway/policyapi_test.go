package gateway

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestPolicyAPI edits a server's policy the way the console does: read it
// with its version, check a draft, save, and be refused when the draft is
// invalid or the file changed meanwhile.
func TestPolicyAPI(t *testing.T) {
	h := start(t, `{"version": "1", "default": "deny", "tools": {"get_user": {}}}`)
	cs := h.connect()
	user := h.sim.UserIDs()[0]
	call := func() bool {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_user", Arguments: map[string]any{"userId": user}})
		return err == nil && !res.IsError
	}
	if !call() {
		t.Fatal("get_user denied under the first policy")
	}

	var view PolicyView
	if code := h.api("GET", "/api/v1/servers/okta/policy", nil, &view); code != 200 || view.Version == "" || !strings.Contains(view.Text, "get_user") {
		t.Fatalf("GET policy = %d %+v", code, view)
	}
	var check struct {
		OK       bool      `json:"ok"`
		Problems []Problem `json:"problems"`
	}
	bad := "{\n  \"version\": \"1\",\n  \"default\": \"maybe\"\n}"
	if code := h.api("POST", "/api/v1/policy/check", map[string]string{"text": bad}, &check); code != 200 || check.OK || len(check.Problems) != 1 || check.Problems[0].Line != 3 {
		t.Errorf("check(bad) = %d %+v; want one problem on line 3", code, check)
	}

	var refused struct {
		Error    string    `json:"error"`
		Problems []Problem `json:"problems"`
		Version  string    `json:"version"`
	}
	if code := h.api("PUT", "/api/v1/servers/okta/policy", map[string]string{"text": bad, "version": view.Version}, &refused); code != http.StatusUnprocessableEntity || len(refused.Problems) == 0 {
		t.Errorf("PUT(invalid) = %d %+v; want 422 with problems", code, refused)
	}
	if data, _ := os.ReadFile(filepath.Join(h.dir, "okta.json")); string(data) != view.Text {
		t.Errorf("an invalid save changed the file to %q", data)
	}

	deny := `{"version": "1", "default": "deny", "tools": {"get_user": {"action": "deny", "reason": "frozen"}}}`
	var saved struct{ Version string }
	if code := h.api("PUT", "/api/v1/servers/okta/policy", map[string]string{"text": deny, "version": view.Version}, &saved); code != 200 || saved.Version == view.Version {
		t.Fatalf("PUT = %d %+v", code, saved)
	}
	if call() {
		t.Error("get_user still allowed after saving a policy that denies it")
	}
	if prev, _ := os.ReadFile(filepath.Join(h.dir, "okta.json.prev")); string(prev) != view.Text {
		t.Errorf("okta.json.prev = %q; want the previous policy", prev)
	}

	// A second editor that started from the first version is refused.
	if code := h.api("PUT", "/api/v1/servers/okta/policy", map[string]string{"text": view.Text, "version": view.Version}, &refused); code != http.StatusConflict || refused.Version != saved.Version {
		t.Errorf("PUT(stale) = %d %+v; want 409 naming the current version", code, refused)
	}
	if call() {
		t.Error("a stale save was applied")
	}
	if code := h.api("GET", "/api/v1/servers/nope/policy", nil, nil); code != 404 {
		t.Errorf("GET policy of an unknown server = %d; want 404", code)
	}
}
