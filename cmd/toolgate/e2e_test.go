package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// commandLink returns a path that runs one of the commands registered in
// TestMain: the test binary under that command's name.
func commandLink(t *testing.T, name string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func listNames(t *testing.T, cs *mcp.ClientSession) []string {
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

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// TestWrap runs `toolgate wrap` as a desktop client would: the client speaks
// MCP on the command's stdin and stdout, the upstream is a stdio server.
func TestWrap(t *testing.T) {
	dir := t.TempDir()
	policyPath := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policyPath, []byte(`{"version": "1", "default": "deny",
  "tools": {"list_users": {}, "delete_user": {"action": "deny", "reason": "never from an agent"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	upstream := commandLink(t, "oktasim-stdio")

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- run(ctx, []string{"wrap", "--policy", policyPath, "--", upstream}, inR, outW, &syncWriter{w: &stderr})
		outW.Close()
	}()

	c := mcp.NewClient(&mcp.Implementation{Name: "desktop"}, nil)
	cs, err := c.Connect(ctx, &mcp.IOTransport{Reader: outR, Writer: inW}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-06-18"})
	if err != nil {
		t.Fatalf("connect through wrap: %v", err)
	}
	if got, want := listNames(t, cs), []string{"delete_user", "list_users"}; !slices.Equal(got, want) {
		t.Errorf("tools/list = %v; want %v", got, want)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_users", Arguments: map[string]any{"limit": 2}})
	if err != nil || res.IsError {
		t.Fatalf("list_users = %v, %v", res, err)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "delete_user", Arguments: map[string]any{"userId": "x"}})
	if err != nil || !res.IsError || !strings.Contains(resultText(res), "never from an agent") {
		t.Fatalf("delete_user = %v, %v; want the policy's denial", res, err)
	}
	_ = cs.Close()
	inW.Close()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("wrap exited %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("wrap did not exit after the client closed")
	}
}

// TestDemo runs the README's first command and uses the gateway it starts
// as a new user would: with the client config it prints.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--dir", t.TempDir()}, nil, outW, &syncWriter{w: &stderr})
		outW.Close()
	}()
	var url, token string
	sc := bufio.NewScanner(outR)
	for sc.Scan() && (url == "" || token == "") {
		line := strings.TrimSpace(sc.Text())
		if u, ok := strings.CutPrefix(line, "MCP endpoint"); ok {
			url = strings.TrimSpace(u)
		}
		if tok, ok := strings.CutPrefix(line, "Agent token"); ok {
			token = strings.TrimSpace(tok)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	if url == "" || token == "" {
		t.Fatalf("demo printed no endpoint and token; stderr:\n%s", stderr.String())
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil)
	if _, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil); err == nil {
		t.Fatal("connected to the demo without its token")
	}
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: bearerClient(token)}, nil)
	if err != nil {
		t.Fatalf("connect to the demo: %v", err)
	}
	defer cs.Close()
	if got := listNames(t, cs); !slices.Equal(got, []string{"provision_applications"}) {
		t.Errorf("demo tools/list = %v; want only provision_applications (the seed policy)", got)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_user", Arguments: map[string]any{"userId": "x"}})
	if err != nil || !res.IsError || !strings.Contains(resultText(res), "get_user") {
		t.Errorf("get_user = %v, %v; want a denial naming the tool", res, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("demo exited %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop")
	}
}

// bearerClient sends token with every request, as an MCP client configured
// with an Authorization header does.
func bearerClient(token string) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
