package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestListTools(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "lister", Version: "1.2.3"}, &mcp.ServerOptions{PageSize: 2})
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	}
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer up.Close()
	tools, init, err := ListTools(context.Background(), &Spec{Name: "lister", URL: up.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Name)
	}
	if len(names) != 5 || names[0] != "a" || names[4] != "e" {
		t.Errorf("ListTools = %v; want every page: a..e", names)
	}
	if init == nil || init.ServerInfo.Name != "lister" || init.ServerInfo.Version != "1.2.3" {
		t.Errorf("InitializeResult = %+v", init)
	}
	if _, _, err := ListTools(context.Background(), &Spec{Name: "gone", URL: "http://127.0.0.1:1/mcp"}, nil); err == nil {
		t.Error("ListTools of an unreachable server = nil error")
	}
}

func TestFrontTools(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "lister"}, &mcp.ServerOptions{PageSize: 1})
	for _, name := range []string{"x", "y"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	}
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer up.Close()
	f := NewFront(&Spec{Name: "lister", URL: up.URL}, nil)
	defer f.Close()
	if err := f.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	tools, err := f.Tools(context.Background())
	if err != nil || len(tools) != 2 || tools[0].Name != "x" || tools[1].Name != "y" {
		t.Errorf("Tools = %v, %v; want x and y", tools, err)
	}
}
