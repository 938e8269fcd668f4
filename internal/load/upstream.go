package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tools served by [NewUpstream].
const (
	// EchoTool returns its "text" argument as text content.
	EchoTool = "echo"
	// SleepTool waits "ms" milliseconds, then returns. It makes latency-bound
	// runs, where the upstream rather than the CPU sets the pace.
	SleepTool = "sleep"
)

// MaxSleep caps the wait [SleepTool] accepts, so a mistyped argument cannot
// hold a session for hours.
const MaxSleep = time.Minute

var (
	echoSchema  = json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)
	sleepSchema = json.RawMessage(`{"type":"object","properties":{"ms":{"type":"integer","minimum":0,"maximum":60000}},"required":["ms"]}`)
)

// NewUpstream returns a fast MCP server over Streamable HTTP, the reference
// point a load run compares the gateway against. It is an ordinary stateful
// server (each client gets a session, with its Mcp-Session-Id, its standalone
// SSE stream and a DELETE to end it) serving two tools, [EchoTool] and
// [SleepTool].
//
// It is tuned so that the upstream costs as little as a real server can:
// single responses are sent as application/json rather than as an SSE
// stream, nothing is logged, and the tools decode their arguments by hand
// rather than through reflection and schema validation. Sessions live until
// the client deletes them.
//
// The handler is safe for concurrent use.
func NewUpstream() http.Handler {
	server := mcp.NewServer(&mcp.Implementation{Name: "toolgate-load-upstream", Version: "1.0.0"}, nil)
	server.AddTool(&mcp.Tool{
		Name:        EchoTool,
		Description: "Returns its text argument.",
		InputSchema: echoSchema,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, echo)
	server.AddTool(&mcp.Tool{
		Name:        SleepTool,
		Description: "Waits the given number of milliseconds, then returns.",
		InputSchema: sleepSchema,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, sleep)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{JSONResponse: true})
}

func echo(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var args struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
		return toolError("echo: arguments: %v", err), nil
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: args.Text}}}, nil
}

func sleep(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var args struct {
		MS *int64 `json:"ms"`
	}
	if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
		return toolError("sleep: arguments: %v", err), nil
	}
	if args.MS == nil {
		return toolError("sleep: missing argument ms"), nil
	}
	d := time.Duration(*args.MS) * time.Millisecond
	if *args.MS < 0 || d > MaxSleep {
		return toolError("sleep: ms = %d; want 0 to %d", *args.MS, MaxSleep.Milliseconds()), nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
}

func toolError(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}},
	}
}
