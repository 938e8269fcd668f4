package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func httpUpstream(t *testing.T, stats *upstreamStats) *Spec {
	t.Helper()
	srv := newTestUpstream(stats)
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(ts.Close)
	return &Spec{Name: "up", URL: ts.URL}
}

func stdioUpstream(mode string) *Spec {
	return &Spec{Name: "up", Command: os.Args[0], Env: map[string]string{"TOOLGATE_TEST_UPSTREAM": mode}}
}

func startFront(t *testing.T, spec *Spec, opts *Options) (*Front, string) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	opts.MinBackoff = 10 * time.Millisecond
	opts.MaxBackoff = 200 * time.Millisecond
	f := NewFront(spec, opts)
	mux := http.NewServeMux()
	mux.Handle("/mcp", f)
	mux.Handle("/sse", f.SSE())
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ts.Close()
		f.Close()
	})
	return f, ts.URL
}

func connect(t *testing.T, tr mcp.Transport, opts *mcp.ClientOptions, version string) *mcp.ClientSession {
	t.Helper()
	// The legacy SSE transport ties its stream to the context given to
	// Connect, so it must outlive the connection.
	ctx := context.Background()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "0.1"}, opts)
	c.AddRoots(&mcp.Root{URI: "file:///work", Name: "work"})
	cs, err := c.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func text(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// agentOptions answer the upstream's requests as a real agent's client would,
// and record what the upstream sent.
type agentRecord struct {
	mu       sync.Mutex
	progress []*mcp.ProgressNotificationParams
	logs     []*mcp.LoggingMessageParams
}

func agentOptions(rec *agentRecord) *mcp.ClientOptions {
	return &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}, nil
		},
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "hello"}}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			rec.mu.Lock()
			rec.progress = append(rec.progress, req.Params)
			rec.mu.Unlock()
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			rec.mu.Lock()
			rec.logs = append(rec.logs, req.Params)
			rec.mu.Unlock()
		},
	}
}

func TestForwardsEveryFeature(t *testing.T) {
	upstreams := map[string]func(*testing.T) *Spec{
		"streamable": func(t *testing.T) *Spec { return httpUpstream(t, nil) },
		"stdio":      func(*testing.T) *Spec { return stdioUpstream("plain") },
	}
	downstreams := map[string]func(url string) mcp.Transport{
		"streamable": func(url string) mcp.Transport { return &mcp.StreamableClientTransport{Endpoint: url + "/mcp"} },
		"sse":        func(url string) mcp.Transport { return &mcp.SSEClientTransport{Endpoint: url + "/sse"} },
	}
	for un, mkUp := range upstreams {
		for dn, mkDown := range downstreams {
			t.Run(un+"-upstream/"+dn+"-agent", func(t *testing.T) {
				_, url := startFront(t, mkUp(t), nil)
				rec := new(agentRecord)
				cs := connect(t, mkDown(url), agentOptions(rec), "2025-06-18")
				checkEveryFeature(t, cs, rec)
			})
		}
	}
}

func checkEveryFeature(t *testing.T, cs *mcp.ClientSession, rec *agentRecord) {
	ctx := context.Background()
	init := cs.InitializeResult()
	if init.ServerInfo.Name != "test-upstream" || init.ServerInfo.Version != "1.2.3" {
		t.Errorf("serverInfo = %+v; want the upstream's", init.ServerInfo)
	}
	if init.Instructions != "test instructions" {
		t.Errorf("instructions = %q; want the upstream's", init.Instructions)
	}
	if init.Capabilities.Completions == nil || init.Capabilities.Resources == nil || !init.Capabilities.Resources.Subscribe {
		t.Errorf("capabilities = %+v; want the upstream's (completions, resources with subscribe)", init.Capabilities)
	}
	if init.ProtocolVersion != "2025-06-18" {
		t.Errorf("negotiated %q with the agent; want the agent's 2025-06-18", init.ProtocolVersion)
	}

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var echo *mcp.Tool
	for _, tl := range tools.Tools {
		if tl.Name == "echo" {
			echo = tl
		}
	}
	if echo == nil || echo.Annotations == nil || !echo.Annotations.ReadOnlyHint || echo.Description != "Echo text back" {
		t.Errorf("echo tool = %+v; want description and annotations passed through", echo)
	}

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || text(t, res) != "echo: hi" {
		t.Fatalf("echo = %v, %v; want echo: hi", res, err)
	}

	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatalf("logging/setLevel: %v", err)
	}
	params := &mcp.CallToolParams{Name: "progress", Arguments: map[string]any{"steps": 3}}
	params.SetProgressToken("my-token")
	res, err = cs.CallTool(ctx, params)
	if err != nil || text(t, res) != "done" {
		t.Fatalf("progress = %v, %v", res, err)
	}
	// The SDK's client may hand notifications to its handler after the
	// result (TestProgressPrecedesResult checks the order on the wire).
	var progress []*mcp.ProgressNotificationParams
	var logs []*mcp.LoggingMessageParams
	waitFor(t, "3 progress notifications and a log message", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		progress, logs = rec.progress, rec.logs
		return len(progress) >= 3 && len(logs) >= 1
	})
	for i, p := range progress {
		if p.ProgressToken != "my-token" || p.Progress != float64(i+1) || p.Total != 3 {
			t.Errorf("progress[%d] = %+v; want token my-token, progress %d of 3", i, p, i+1)
		}
	}
	if len(logs) != 1 || logs[0].Data != "progress done" {
		t.Errorf("log messages = %+v; want the upstream's one", logs)
	}

	for _, tc := range []struct{ tool, want string }{
		{"ask", "accept Ada"},
		{"sample", "model said hello"},
		{"roots", "file:///work"},
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool})
		if err != nil {
			t.Errorf("%s: %v", tc.tool, err)
			continue
		}
		if got := text(t, res); got != tc.want || res.IsError {
			t.Errorf("%s = %q (isError %v); want %q", tc.tool, got, res.IsError, tc.want)
		}
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "fail"})
	if err != nil || !res.IsError || !strings.Contains(text(t, res), "upstream says no") {
		t.Errorf("fail = %v, %v; want the upstream's isError result", res, err)
	}

	prompts, err := cs.ListPrompts(ctx, nil)
	if err != nil || len(prompts.Prompts) != 1 || prompts.Prompts[0].Name != "greet" {
		t.Errorf("prompts/list = %v, %v", prompts, err)
	}
	pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"who": "you"}})
	if err != nil || pr.Messages[0].Content.(*mcp.TextContent).Text != "hello you" {
		t.Errorf("prompts/get = %v, %v", pr, err)
	}
	_, err = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "nope"})
	var we *jsonrpc.Error
	if !errors.As(err, &we) {
		t.Errorf("prompts/get of an unknown prompt: err = %v; want the upstream's JSON-RPC error", err)
	}
	rl, err := cs.ListResources(ctx, nil)
	if err != nil || len(rl.Resources) != 1 || rl.Resources[0].URI != "test://doc" {
		t.Errorf("resources/list = %v, %v", rl, err)
	}
	rt, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil || len(rt.ResourceTemplates) != 1 {
		t.Errorf("resources/templates/list = %v, %v", rt, err)
	}
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://doc"})
	if err != nil || rr.Contents[0].Text != "hello doc" {
		t.Errorf("resources/read = %v, %v", rr, err)
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://doc"}); err != nil {
		t.Errorf("resources/subscribe: %v", err)
	}
	if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "test://doc"}); err != nil {
		t.Errorf("resources/unsubscribe: %v", err)
	}
	cr, err := cs.Complete(ctx, &mcp.CompleteParams{
		Ref:      &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"},
		Argument: mcp.CompleteParamsArgument{Name: "who", Value: "wor"},
	})
	if err != nil || !slices.Equal(cr.Completion.Values, []string{"wor-done"}) {
		t.Errorf("completion/complete = %v, %v", cr, err)
	}
	if err := cs.Ping(ctx, nil); err != nil {
		t.Errorf("ping: %v", err)
	}
}

func TestCancellationReachesUpstream(t *testing.T) {
	stats := new(upstreamStats)
	_, url := startFront(t, httpUpstream(t, stats), nil)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil, "")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "block"})
		errc <- err
	}()
	waitFor(t, "the call to reach the upstream", func() bool { return stats.calls.Load() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call returned %v; want context.Canceled", err)
	}
	waitFor(t, "the upstream handler to be cancelled", func() bool { return stats.cancelled.Load() == 1 })
}

// waitFor polls cond until it holds, failing the test after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInterceptAndFilter(t *testing.T) {
	stats := new(upstreamStats)
	var seen []*Call
	var mu sync.Mutex
	opts := &Options{
		Intercept: func(next Handler) Handler {
			return func(ctx context.Context, c *Call) (*mcp.CallToolResult, error) {
				mu.Lock()
				seen = append(seen, c)
				mu.Unlock()
				switch c.Params.Name {
				case "delete_user":
					return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "denied"}}}, nil
				case "progress":
					return nil, UnknownTool(c.Params.Name)
				}
				return next(ctx, c)
			}
		},
		FilterTools: func(_ context.Context, _ *Session, tools []*mcp.Tool) []*mcp.Tool {
			var out []*mcp.Tool
			for _, tl := range tools {
				if tl.Name != "progress" {
					out = append(out, tl)
				}
			}
			return out
		},
	}
	_, url := startFront(t, httpUpstream(t, stats), opts)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil, "")
	ctx := context.Background()

	// A call before any listing still knows the upstream's tools.
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "delete_user", Arguments: map[string]any{"userId": "u1"}})
	if err != nil || !res.IsError || text(t, res) != "denied" {
		t.Fatalf("delete_user = %v, %v; want the intercept's denial", res, err)
	}
	if n := stats.calls.Load(); n != 0 {
		t.Fatalf("upstream received %d calls; want 0", n)
	}
	mu.Lock()
	args, err := seen[0].Args()
	mu.Unlock()
	if err != nil || args["userId"] != "u1" || seen[0].Session.Client.Name != "test-agent" {
		t.Errorf("intercept saw args %v (%v), client %+v", args, err, seen[0].Session.Client)
	}

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range tools.Tools {
		if tl.Name == "progress" {
			t.Errorf("filtered tool listed")
		}
	}
	_, hiddenErr := cs.CallTool(ctx, &mcp.CallToolParams{Name: "progress"})
	_, unknownErr := cs.CallTool(ctx, &mcp.CallToolParams{Name: "no_such_tool"})
	if hiddenErr == nil || unknownErr == nil {
		t.Fatalf("hidden: %v, unknown: %v; want errors", hiddenErr, unknownErr)
	}
	if got, want := strings.ReplaceAll(hiddenErr.Error(), "progress", "X"), strings.ReplaceAll(unknownErr.Error(), "no_such_tool", "X"); got != want {
		t.Errorf("hidden tool error %q differs from unknown tool error %q", got, want)
	}
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	if n != 2 {
		t.Errorf("intercept saw %d calls; want 2 (unknown tools never reach it)", n)
	}
	if n := stats.calls.Load(); n != 0 {
		t.Errorf("upstream received %d calls; want 0", n)
	}
}

func TestStdioUpstreamGarbage(t *testing.T) {
	f, url := startFront(t, stdioUpstream("garbage,noisy"), nil)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil, "")
	ctx := context.Background()
	for range 3 {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "noise"})
		if err != nil || text(t, res) != "quiet again" {
			t.Fatalf("noise = %v, %v", res, err)
		}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "still here"}})
	if err != nil || text(t, res) != "echo: still here" {
		t.Fatalf("echo after garbage = %v, %v", res, err)
	}
	if n := f.Restarts(); n != 0 {
		t.Errorf("garbage caused %d restarts; want 0", n)
	}
}

func TestStdioUpstreamCrashRestarts(t *testing.T) {
	f, url := startFront(t, stdioUpstream("crashy"), nil)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil, "")
	ctx := context.Background()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "crash"})
	if err != nil {
		t.Fatalf("crash: %v; want an isError result", err)
	}
	if !res.IsError || !strings.Contains(text(t, res), "unavailable") {
		t.Fatalf("crash = %q (isError %v); want an unavailable error result", text(t, res), res.IsError)
	}
	// The agent's session survives; its upstream comes back.
	waitFor(t, "the upstream to restart", func() bool {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "back"}})
		if err != nil {
			t.Fatalf("call during restart: %v; want a result", err)
		}
		if res.IsError && !strings.Contains(text(t, res), "unavailable") {
			t.Fatalf("call during restart = %q; want the unavailable error", text(t, res))
		}
		return !res.IsError && text(t, res) == "echo: back"
	})
	if f.Restarts() < 1 {
		t.Errorf("Restarts() = %d; want ≥ 1", f.Restarts())
	}
}

func TestStatelessAgent(t *testing.T) {
	f, url := startFront(t, httpUpstream(t, nil), nil)
	if err := f.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil, "2026-07-28")
	if v := cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Fatalf("negotiated %q; want 2026-07-28", v)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "stateless"}})
	if err != nil || text(t, res) != "echo: stateless" {
		t.Fatalf("echo = %v, %v", res, err)
	}
	if caps := cs.InitializeResult().Capabilities; caps == nil || caps.Completions == nil {
		t.Errorf("discover capabilities = %+v; want the upstream's", caps)
	}
}

func TestUnavailableUpstream(t *testing.T) {
	_, url := startFront(t, &Spec{Name: "gone", Command: "/nonexistent/server"}, nil)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		c := mcp.NewClient(&mcp.Implementation{Name: "a"}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: version})
		cancel()
		if err == nil || !strings.Contains(err.Error(), `upstream "gone" is unavailable`) {
			t.Fatalf("%s: connect = %v; want a clear unavailable error", version, err)
		}
		if strings.Contains(err.Error(), "/nonexistent") {
			t.Errorf("%s: error %q leaks a path", version, err)
		}
	}
}

// rawPost sends one JSON-RPC message to a Streamable HTTP endpoint and
// returns the response headers and body.
func rawPost(t *testing.T, url, session, body string) (http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s: %s", body, resp.Status, data)
	}
	return resp.Header, string(data)
}

// TestProgressPrecedesResult reads the response stream of a tools/call as an
// agent receives it: every progress notification comes before the result,
// under the agent's own token.
func TestProgressPrecedesResult(t *testing.T) {
	for name, spec := range map[string]func(*testing.T) *Spec{
		"streamable": func(t *testing.T) *Spec { return httpUpstream(t, nil) },
		"stdio":      func(*testing.T) *Spec { return stdioUpstream("plain") },
	} {
		t.Run(name, func(t *testing.T) {
			_, url := startFront(t, spec(t), nil)
			url += "/mcp"
			h, _ := rawPost(t, url, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
			sid := h.Get("Mcp-Session-Id")
			if sid == "" {
				t.Fatal("no session id")
			}
			rawPost(t, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			for i := range 5 {
				_, body := rawPost(t, url, sid, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"progress","arguments":{"steps":3},"_meta":{"progressToken":%d}}}`, 10+i, 77+i))
				var order []string
				for _, line := range strings.Split(body, "\n") {
					data, ok := strings.CutPrefix(line, "data: ")
					if !ok {
						continue
					}
					var msg struct {
						ID     any    `json:"id"`
						Method string `json:"method"`
						Params struct {
							ProgressToken any `json:"progressToken"`
						} `json:"params"`
					}
					if err := json.Unmarshal([]byte(data), &msg); err != nil {
						t.Fatalf("bad event %q: %v", data, err)
					}
					switch {
					case msg.Method == "notifications/progress":
						if msg.Params.ProgressToken != float64(77+i) {
							t.Errorf("progress token %v; want the agent's %d", msg.Params.ProgressToken, 77+i)
						}
						order = append(order, "progress")
					case msg.ID != nil:
						order = append(order, "result")
					}
				}
				if want := []string{"progress", "progress", "progress", "result"}; !slices.Equal(order, want) {
					t.Fatalf("call %d: stream order %v; want %v", i, order, want)
				}
			}
		})
	}
}

// TestCancelledRequestGetsNoResponse cancels a call in flight over raw HTTP:
// the upstream's handler is cancelled and the request's stream carries no
// response (the protocol's rule for cancelled requests).
func TestCancelledRequestGetsNoResponse(t *testing.T) {
	stats := new(upstreamStats)
	_, url := startFront(t, httpUpstream(t, stats), nil)
	url += "/mcp"
	h, _ := rawPost(t, url, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	sid := h.Get("Mcp-Session-Id")
	rawPost(t, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	bodyc := make(chan string, 1)
	go func() {
		_, body := rawPost(t, url, sid, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"block","arguments":{}}}`)
		bodyc <- body
	}()
	waitFor(t, "the call to reach the upstream", func() bool { return stats.calls.Load() == 1 })
	rawPost(t, url, sid, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"user gave up"}}`)
	waitFor(t, "the upstream handler to be cancelled", func() bool { return stats.cancelled.Load() == 1 })
	select {
	case body := <-bodyc:
		if strings.Contains(body, `"id":7`) {
			t.Errorf("the cancelled request got a response: %s", body)
		}
	case <-time.After(10 * time.Second):
		// The stream may stay open with nothing to say: that is no response too.
	}
	// The session goes on.
	_, body := rawPost(t, url, sid, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"text":"after"}}}`)
	if !strings.Contains(body, "echo: after") {
		t.Errorf("call after the cancellation: %s", body)
	}
}

// TestLegacySSEUpstream reaches an upstream that speaks only the legacy
// HTTP+SSE transport through the automatic fallback.
func TestLegacySSEUpstream(t *testing.T) {
	srv := newTestUpstream(nil)
	up := httptest.NewServer(mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(up.Close)
	_, url := startFront(t, &Spec{Name: "legacy", URL: up.URL}, nil)
	rec := new(agentRecord)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, agentOptions(rec), "2025-06-18")
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "old"}})
	if err != nil || text(t, res) != "echo: old" {
		t.Fatalf("echo through the SSE fallback = %q, %v", text(t, res), err)
	}
}
