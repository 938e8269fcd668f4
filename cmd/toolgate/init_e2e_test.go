package main

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/gateway"
	"github.com/toolgate/toolgate/internal/grant"
)

// TestInitOutputEnforces imports a client config with init, starts the
// gateway on what init wrote, and checks that an agent gets the
// recommended treatment of each risk class.
func TestInitOutputEnforces(t *testing.T) {
	dir := t.TempDir()
	okta := commandLink(t, "oktasim-stdio")
	client := filepath.Join(dir, "claude_desktop_config.json")
	if err := os.WriteFile(client, []byte(`{"mcpServers": {"okta": {"command": "`+okta+`"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := run(context.Background(), []string{"init", "--from", client, "--dir", dir}, nil, &out, &errOut); code != 0 {
		t.Fatalf("init = %d\n%s%s", code, out.String(), errOut.String())
	}
	cfg, err := config.Load(filepath.Join(dir, "toolgate.json"), os.LookupEnv)
	if err != nil {
		t.Fatalf("init wrote a config that does not load: %v", err)
	}
	if cfg.Auth.Mode != "grants" {
		t.Errorf("auth = %q; want grants", cfg.Auth.Mode)
	}
	g, err := gateway.New(cfg, &gateway.Options{Notice: io.Discard, PollInterval: -1})
	if err != nil {
		t.Fatalf("the gateway does not start on init's output: %v", err)
	}
	defer g.Close()
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	gr, token, err := grant.New("laptop", "okta", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Grants().Create(context.Background(), gr, grant.Hash(token)); err != nil {
		t.Fatal(err)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp/okta", HTTPClient: bearerClient(token)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx := context.Background()
	callText := func(name string, args map[string]any) (string, bool) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("CallTool(%s) = %v", name, err)
		}
		var b strings.Builder
		for _, ct := range res.Content {
			if tc, ok := ct.(*mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String(), !res.IsError
	}

	if text, ok := callText("list_users", map[string]any{"limit": 2}); !ok {
		t.Errorf("list_users (Read) refused: %s", text)
	}
	// Write: 30 per minute per grant.
	for i := 1; i <= 31; i++ {
		text, ok := callText("create_group", map[string]any{"name": "g" + strings.Repeat("x", i)})
		if i <= 30 && !ok {
			t.Fatalf("create_group call %d refused: %s", i, text)
		}
		if i == 31 && (ok || !strings.Contains(text, "create_group_rate")) {
			t.Errorf("create_group call 31 = %q, ok=%v; want the limit", text, ok)
		}
	}
	// Destructive: held for approval, never simply forwarded.
	if text, ok := callText("deactivate_user", map[string]any{"userId": "00u1"}); ok || !strings.Contains(text, "approv") {
		t.Errorf("deactivate_user (Destructive) = %q, ok=%v; want it held for approval", text, ok)
	}
}
