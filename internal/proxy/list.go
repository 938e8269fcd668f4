package proxy

import (
	"context"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ListTools connects to the upstream spec describes, lists every page of
// its tools, and disconnects (stopping a stdio server). It is for commands
// that inspect a server, such as a risk scan. logger receives a stdio
// server's stderr; nil discards it.
func ListTools(ctx context.Context, spec *Spec, logger *slog.Logger) ([]*mcp.Tool, *mcp.InitializeResult, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	life, cancel := context.WithCancel(ctx)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "toolgate"}, nil)
	cs, _, err := spec.dial(ctx, life, client, "2025-11-25", logger, nil)
	if err != nil {
		return nil, nil, err
	}
	defer cs.Close()
	var tools []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, nil, err
		}
		tools = append(tools, t)
	}
	return tools, cs.InitializeResult(), nil
}
