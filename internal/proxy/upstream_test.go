package proxy

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The test binary doubles as a stdio upstream: with TOOLGATE_TEST_UPSTREAM
// set it serves testUpstream over stdin/stdout instead of running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("TOOLGATE_TEST_UPSTREAM"); mode != "" {
		runStdioUpstream(mode)
		return
	}
	os.Exit(m.Run())
}

func runStdioUpstream(mode string) {
	if strings.Contains(mode, "garbage") {
		// Servers that print banners on stdout exist; the gateway must cope.
		fmt.Println("Starting server... this line is not JSON-RPC")
		fmt.Println(`{"jsonrpc":"2.0","id":"not-ours","result":{}}`)
		fmt.Println(strings.Repeat("x", 300))
	}
	s := newTestUpstream(nil)
	if strings.Contains(mode, "crashy") {
		mcp.AddTool(s, &mcp.Tool{Name: "crash"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			os.Exit(3)
			return nil, nil, nil
		})
	}
	if strings.Contains(mode, "noisy") {
		mcp.AddTool(s, &mcp.Tool{Name: "noise"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			// A garbage line in the middle of a session must not end it.
			fmt.Println("debug: doing the noisy thing")
			fmt.Fprintln(os.Stderr, "stderr is for logs")
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "quiet again"}}}, nil, nil
		})
	}
	_ = s.Run(context.Background(), &mcp.StdioTransport{})
}

// upstreamStats counts what reached a test upstream.
type upstreamStats struct {
	calls     atomic.Int64
	cancelled atomic.Int64
}

type echoArgs struct {
	Text string `json:"text"`
}

type progressArgs struct {
	Steps int `json:"steps"`
}

// newTestUpstream is an MCP server exercising every feature the gateway must
// carry: tools with progress, logging, cancellation, elicitation and
// sampling; resources with subscriptions; prompts; completion.
func newTestUpstream(stats *upstreamStats) *mcp.Server {
	if stats == nil {
		stats = new(upstreamStats)
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "test-upstream", Version: "1.2.3"}, &mcp.ServerOptions{
		Instructions: "test instructions",
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{req.Params.Argument.Value + "-done"}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echo text back", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			stats.calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + a.Text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "delete_user", Description: "Delete a user"},
		func(_ context.Context, req *mcp.CallToolRequest, a struct {
			UserID string `json:"userId"`
		}) (*mcp.CallToolResult, any, error) {
			stats.calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "deleted " + a.UserID}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "progress", Description: "Report progress"},
		func(ctx context.Context, req *mcp.CallToolRequest, a progressArgs) (*mcp.CallToolResult, any, error) {
			stats.calls.Add(1)
			tok := req.Params.GetProgressToken()
			for i := 1; i <= a.Steps; i++ {
				if tok != nil {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: float64(a.Steps), Message: fmt.Sprintf("step %d", i)})
				}
			}
			_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "progress done"})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "block", Description: "Wait until cancelled"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			stats.calls.Add(1)
			select {
			case <-ctx.Done():
				stats.cancelled.Add(1)
				return nil, nil, ctx.Err()
			case <-time.After(time.Minute):
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "not cancelled"}}}, nil, nil
			}
		})
	mcp.AddTool(s, &mcp.Tool{Name: "wait", Description: "Answer after a while"},
		func(ctx context.Context, req *mcp.CallToolRequest, a struct {
			MS int `json:"ms"`
		}) (*mcp.CallToolResult, any, error) {
			t := time.NewTimer(time.Duration(a.MS) * time.Millisecond)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-t.C:
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "waited"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "ask", Description: "Elicit from the user"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{
				Message: "Your name?",
				RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{
					"name": map[string]any{"type": "string"}}},
			})
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%s %v", res.Action, res.Content["name"])}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "sample", Description: "Ask the client's model"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
				MaxTokens: 10,
				Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}},
			})
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "model said " + res.Content.(*mcp.TextContent).Text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "roots", Description: "List the client's roots"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.ListRoots(ctx, nil)
			if err != nil {
				return nil, nil, err
			}
			var uris []string
			for _, r := range res.Roots {
				uris = append(uris, r.URI)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(uris, ",")}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Return a protocol error"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, fmt.Errorf("upstream says no")
		})
	s.AddResource(&mcp.Resource{URI: "test://doc", Name: "doc", MIMEType: "text/plain"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://doc", MIMEType: "text/plain", Text: "hello doc"}}}, nil
		})
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "test://item/{id}", Name: "item"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "item"}}}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "who", Required: true}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello " + req.Params.Arguments["who"]}}}}, nil
		})
	return s
}
