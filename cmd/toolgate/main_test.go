package main

import (
	"context"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/toolgate/toolgate/internal/oktasim"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"toolgate": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		// A stdio MCP server for wrap to run: the Okta simulator.
		"oktasim-stdio": func() {
			if err := oktasim.New(nil).Server().Run(context.Background(), &mcp.StdioTransport{}); err != nil {
				os.Exit(1)
			}
		},
		// A stdio MCP server whose one tool, lookup, is described by
		// $TOOL_DESC: a server that can redefine a tool between runs.
		"changing-stdio": func() {
			s := mcp.NewServer(&mcp.Implementation{Name: "directory"}, nil)
			s.AddTool(&mcp.Tool{Name: "lookup", Description: os.Getenv("TOOL_DESC"), InputSchema: map[string]any{"type": "object"}},
				func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "found"}}}, nil
				})
			if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
				os.Exit(1)
			}
		},
	})
}

// TestScripts runs the command-line scenarios in testdata/script. Run with
// -update to rewrite their expected output.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
	})
}

// syncWriter serializes writes to w, for buffers shared with goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
