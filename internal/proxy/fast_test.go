package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// streamableUpstream serves newTestUpstream over Streamable HTTP with the
// given options.
func streamableUpstream(t *testing.T, stats *upstreamStats, opts *mcp.StreamableHTTPOptions) *httptest.Server {
	t.Helper()
	srv := newTestUpstream(stats)
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, opts))
	t.Cleanup(ts.Close)
	return ts
}

// TestFastPathForwardsEveryFeature runs the feature suite over a stateful
// session, whose calls the fast path serves: the upstream's results,
// errors, progress, log messages and requests of the agent pass as they do
// on the SDK's path.
func TestFastPathForwardsEveryFeature(t *testing.T) {
	ts := streamableUpstream(t, nil, nil)
	f, url := startFront(t, &Spec{Name: "up", URL: ts.URL}, nil)
	rec := new(agentRecord)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, agentOptions(rec), "2025-06-18")
	checkEveryFeature(t, cs, rec)
	// echo, progress, ask, sample, roots, fail
	if n := f.fastCalls.Load(); n != 6 {
		t.Errorf("the fast path served %d calls; want 6", n)
	}
}

// TestFastPathJSONUpstream reaches an upstream that answers calls with
// JSON bodies and sends everything else on its standalone stream.
func TestFastPathJSONUpstream(t *testing.T) {
	ts := streamableUpstream(t, nil, &mcp.StreamableHTTPOptions{JSONResponse: true})
	f, url := startFront(t, &Spec{Name: "up", URL: ts.URL}, nil)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, agentOptions(new(agentRecord)), "2025-11-25")
	ctx := context.Background()
	for _, tc := range []struct {
		tool    string
		args    any
		want    string
		isError bool
	}{
		{"echo", map[string]any{"text": "json"}, "echo: json", false},
		{"ask", nil, "accept Ada", false},
		{"sample", nil, "model said hello", false},
		{"roots", nil, "file:///work", false},
		{"fail", nil, "upstream says no", true},
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
		if err != nil {
			t.Errorf("%s: %v", tc.tool, err)
			continue
		}
		if got := text(t, res); !strings.Contains(got, tc.want) || res.IsError != tc.isError {
			t.Errorf("%s = %q (isError %v); want %q (isError %v)", tc.tool, got, res.IsError, tc.want, tc.isError)
		}
	}
	if n := f.fastCalls.Load(); n != 5 {
		t.Errorf("the fast path served %d calls; want 5", n)
	}
}

// session opens a stateful session over raw HTTP and returns its ID.
func session(t *testing.T, url string) string {
	t.Helper()
	h, _ := rawPost(t, url, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	sid := h.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatal("no session id")
	}
	rawPost(t, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return sid
}

// TestFastPathTakesOnlyWhatItReadsExactly sends calls the fast path must
// leave to the SDK, and calls it takes: each is served, by one path or the
// other, as the SDK would serve it.
func TestFastPathTakesOnlyWhatItReadsExactly(t *testing.T) {
	ts := streamableUpstream(t, nil, nil)
	f, url := startFront(t, &Spec{Name: "up", URL: ts.URL}, nil)
	url += "/mcp"
	sid := session(t, url)
	for _, tc := range []struct {
		name, body, want string
		fast             bool
	}{
		{"plain", `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}}`, "echo: a", true},
		{"string id", `{"jsonrpc":"2.0","id":"x-1","method":"tools/call","params":{"name":"echo","arguments":{"text":"b"}}}`, `"id":"x-1"`, true},
		{"members in any order", `{"params":{"arguments":{"text":"c"},"name":"echo"},"method":"tools/call","id":12,"jsonrpc":"2.0"}`, "echo: c", true},
		{"meta", `{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"echo","arguments":{"text":"d"},"_meta":{"trace":"t"}}}`, "echo: d", true},
		{"unknown member in params", `{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"echo","arguments":{"text":"e"},"extra":1}}`, "echo: e", false},
		{"escaped key", `{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"n\u0061me":"echo","arguments":{"text":"f"}}}`, "echo: f", false},
		{"escaped name", `{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"\u0065cho","arguments":{"text":"g"}}}`, "echo: g", false},
		{"fractional id", `{"jsonrpc":"2.0","id":17.0,"method":"tools/call","params":{"name":"echo","arguments":{"text":"h"}}}`, "echo: h", false},
		{"case-folded key", `{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"Name":"echo","arguments":{"text":"i"}}}`, `"error"`, false},
		{"repeated key", `{"jsonrpc":"2.0","id":19,"method":"tools/call","params":{"name":"block","name":"echo","arguments":{"text":"j"}}}`, "echo: j", false},
		{"protocol meta", `{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"echo","arguments":{"text":"k"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-06-18"}}}`, `"error"`, false},
		{"other method", `{"jsonrpc":"2.0","id":21,"method":"tools/list"}`, `"tools"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.fastCalls.Load()
			_, body := postStatus(t, url, sid, tc.body)
			if !strings.Contains(body, tc.want) {
				t.Errorf("response %s; want it to contain %s", body, tc.want)
			}
			if fast := f.fastCalls.Load() > before; fast != tc.fast {
				t.Errorf("taken by the fast path: %v; want %v", fast, tc.fast)
			}
		})
	}
}

// TestFastPathRefusesDuplicateID sends a call with the ID of a call in
// flight: it is refused as the SDK refuses it, and the first goes on.
func TestFastPathRefusesDuplicateID(t *testing.T) {
	stats := new(upstreamStats)
	ts := streamableUpstream(t, stats, nil)
	_, url := startFront(t, &Spec{Name: "up", URL: ts.URL}, nil)
	url += "/mcp"
	sid := session(t, url)
	done := make(chan string, 1)
	go func() {
		_, body := rawPost(t, url, sid, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"block","arguments":{}}}`)
		done <- body
	}()
	waitFor(t, "the call to reach the upstream", func() bool { return stats.calls.Load() == 1 })
	resp, body := postStatus(t, url, sid, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"again"}}}`)
	if resp != http.StatusBadRequest || !strings.Contains(body, "duplicate in-flight request ID") {
		t.Errorf("second call with ID 5: %d %s; want 400 and a duplicate ID error", resp, body)
	}
	rawPost(t, url, sid, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}`)
	if body := <-done; strings.Contains(body, `"id":5`) {
		t.Errorf("the cancelled call got a response: %s", body)
	}
	waitFor(t, "the upstream handler to be cancelled", func() bool { return stats.cancelled.Load() == 1 })
}

// postStatus is rawPost for a request that may fail.
func postStatus(t *testing.T, url, session, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

// TestFastPathCancellation cancels a call of a stateful session through
// the SDK's client: the upstream's handler is cancelled.
func TestFastPathCancellation(t *testing.T) {
	stats := new(upstreamStats)
	ts := streamableUpstream(t, stats, nil)
	f, url := startFront(t, &Spec{Name: "up", URL: ts.URL}, nil)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil, "2025-11-25")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "block"})
		errc <- err
	}()
	waitFor(t, "the call to reach the upstream", func() bool { return stats.calls.Load() == 1 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled call succeeded")
	}
	waitFor(t, "the upstream handler to be cancelled", func() bool { return stats.cancelled.Load() == 1 })
	if f.fastCalls.Load() != 1 {
		t.Errorf("the fast path served %d calls; want 1", f.fastCalls.Load())
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "after"}})
	if err != nil || text(t, res) != "echo: after" {
		t.Errorf("call after the cancellation = %v, %v", res, err)
	}
}

// TestFastPathKeepsSessionsAlive checks the idle timeout the Front keeps
// for the SDK: a session is not closed while a call is under way, however
// long, and is closed once idle.
func TestFastPathKeepsSessionsAlive(t *testing.T) {
	stats := new(upstreamStats)
	ts := streamableUpstream(t, stats, nil)
	f, url := startFront(t, &Spec{Name: "up", URL: ts.URL}, &Options{SessionTimeout: 300 * time.Millisecond})
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil, "2025-11-25")
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "wait", Arguments: map[string]any{"ms": 600}})
	if err != nil || text(t, res) != "waited" {
		t.Fatalf("a call longer than the idle timeout = %v, %v", res, err)
	}
	if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "still"}}); err != nil || text(t, res) != "echo: still" {
		t.Fatalf("the session ended during the call: %v, %v", res, err)
	}
	if f.fastCalls.Load() != 2 {
		t.Errorf("the fast path served %d calls; want 2", f.fastCalls.Load())
	}
	waitFor(t, "the idle session to end", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.downs) == 0
	})
}

// TestFastPathUpstreamLosesSession makes the upstream forget the gateway's
// session: the call in flight gets an error result the agent can act on,
// and the link reconnects, as it does when the SDK's client sees the same.
func TestFastPathUpstreamLosesSession(t *testing.T) {
	srv := newTestUpstream(nil)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	var lost atomic.Value // the session ID the upstream has forgotten
	lost.Store("")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sid := r.Header.Get("Mcp-Session-Id"); sid != "" && sid == lost.Load() {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	f, url := startFront(t, &Spec{Name: "up", URL: ts.URL}, nil)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil, "2025-11-25")
	ctx := context.Background()
	call := func() *mcp.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
		if err != nil {
			t.Fatalf("echo: %v", err)
		}
		return res
	}
	if res := call(); res.IsError {
		t.Fatalf("echo: %s", text(t, res))
	}
	f.mu.Lock()
	var l *link
	for _, x := range f.links {
		l = x
	}
	f.mu.Unlock()
	up, _ := l.client()
	lost.Store(up.ID())
	if res := call(); !res.IsError || !strings.Contains(text(t, res), "unavailable") {
		t.Errorf("call into a lost session = %q; want an unavailable error result", text(t, res))
	}
	waitFor(t, "the link to reconnect", func() bool {
		cs, err := l.client()
		return err == nil && cs != up
	})
	if res := call(); res.IsError || text(t, res) != "echo: x" {
		t.Errorf("call after reconnecting = %q", text(t, res))
	}
}

// TestFastPathResumesStream uses an upstream that ends a call's stream
// early and keeps its events: the gateway resumes the stream and gets the
// result.
func TestFastPathResumesStream(t *testing.T) {
	srv := newTestUpstream(nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "hangup"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 10 * time.Millisecond})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "after the hangup"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
	var resumed atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") != "" {
			resumed.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	f, url := startFront(t, &Spec{Name: "up", URL: ts.URL}, nil)
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, nil, "2025-11-25")
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hangup"})
	if err != nil || text(t, res) != "after the hangup" {
		t.Fatalf("hangup = %v, %v", res, err)
	}
	if resumed.Load() != 1 {
		t.Errorf("the stream was resumed %d times; want once", resumed.Load())
	}
	if f.fastCalls.Load() != 1 {
		t.Errorf("the fast path served %d calls; want 1", f.fastCalls.Load())
	}
}

// TestEnvelope reads messages as written, and refuses what could be read
// two ways.
func TestEnvelope(t *testing.T) {
	id7, _ := jsonrpc.MakeID(float64(7))
	idA, _ := jsonrpc.MakeID("a")
	for _, tc := range []struct {
		in   string
		want *envelope // nil: refused
	}{
		{`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}`, &envelope{ID: id7, RawID: []byte("7"), Method: "tools/call", Params: []byte(`{"name":"x"}`)}},
		{` { "method" : "ping" , "jsonrpc" : "2.0" , "id" : "a" } `, &envelope{ID: idA, RawID: []byte(`"a"`), Method: "ping"}},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, &envelope{Method: "notifications/initialized"}},
		{`{"jsonrpc":"2.0","id":7,"result":{}}`, &envelope{ID: id7, RawID: []byte("7"), Result: []byte("{}")}},
		{`{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"m"}}`, &envelope{ID: id7, RawID: []byte("7"), Error: []byte(`{"code":1,"message":"m"}`)}},
		{`{"jsonrpc":"2.0","id":7,"result":{},"error":{}}`, nil},
		{`{"jsonrpc":"2.0","id":7}`, nil},
		{`{"jsonrpc":"1.0","id":7,"method":"ping"}`, nil},
		{`{"jsonrpc":"2.0","id":7.5,"method":"ping"}`, nil},
		{`{"jsonrpc":"2.0","id":1e3,"method":"ping"}`, nil},
		{`{"jsonrpc":"2.0","id":99999999999999999,"method":"ping"}`, nil},
		{`{"jsonrpc":"2.0","id":null,"method":"ping"}`, nil},
		{`{"jsonrpc":"2.0","id":"\u0061","method":"ping"}`, nil},
		{`{"jsonrpc":"2.0","id":7,"method":"ping","id":8}`, nil},
		{`{"jsonrpc":"2.0","id":7,"Method":"ping"}`, nil},
		{`{"jsonrpc":"2.0","id":7,"m\u0065thod":"ping"}`, nil},
		{`{"jsonrpc":"2.0","id":7,"method":"ping","extra":true}`, nil},
		{`[{"jsonrpc":"2.0","id":7,"method":"ping"}]`, nil},
		{`"x"`, nil},
	} {
		got, ok := parseEnvelope([]byte(tc.in))
		if tc.want == nil {
			if ok {
				t.Errorf("parseEnvelope(%q) = %+v; want refused", tc.in, got)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, *tc.want) {
			t.Errorf("parseEnvelope(%q) = %+v, %v; want %+v", tc.in, got, ok, *tc.want)
		}
	}
}

// TestReadToolResult reads the common results exactly as the SDK does, and
// leaves the others to it.
func TestReadToolResult(t *testing.T) {
	for _, tc := range []struct {
		in   string
		read bool
	}{
		{`{"content":[{"type":"text","text":"hi"}]}`, true},
		{`{"content":[{"text":"line\nbreak \u00e9","type":"text"}],"isError":true}`, true},
		{`{"content":[],"structuredContent":{"n":1,"s":["a"]},"_meta":{"k":"v"}}`, true},
		{`{}`, true},
		{`{"content":null}`, true},
		{`{"content":[{"type":"image","data":"AAAA","mimeType":"image/png"}]}`, false},
		{`{"content":[{"type":"text","text":"x","annotations":{"priority":1}}]}`, false},
		{`{"content":[{"type":"text","text":"x"}],"resultType":"complete"}`, false},
		{`{"content":[{"type":"text","text":"x"}],"IsError":true}`, false},
		{`{"isError":null}`, false},
	} {
		ours, ok := readToolResult([]byte(tc.in))
		if ok != tc.read {
			t.Errorf("readToolResult(%q) read it: %v; want %v", tc.in, ok, tc.read)
		}
		if ok {
			compareWithSDK(t, tc.in, ours)
		}
	}
}

func compareWithSDK(t *testing.T, in string, ours *mcp.CallToolResult) {
	t.Helper()
	sdk := new(mcp.CallToolResult)
	if err := sdk.UnmarshalJSON([]byte(in)); err != nil {
		t.Fatalf("read %q, which the SDK refuses: %v", in, err)
	}
	a, err1 := json.Marshal(ours)
	b, err2 := json.Marshal(sdk)
	if err1 != nil || err2 != nil || string(a) != string(b) || ours.IsError != sdk.IsError || len(ours.Content) != len(sdk.Content) {
		t.Errorf("readToolResult(%q) = %s; the SDK reads %s", in, a, b)
	}
}

// FuzzEnvelope checks that whatever parseEnvelope reads, the SDK reads the
// same way.
func FuzzEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,"]}"]}}}`,
		`{"jsonrpc":"2.0","id":"s","result":{"content":[]}}`,
		`{"jsonrpc":"2.0","id":-3,"error":{"code":-32600,"message":"m"}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		data := []byte(in)
		if !json.Valid(data) {
			return
		}
		env, ok := parseEnvelope(data)
		if !ok {
			return
		}
		msg, err := jsonrpc.DecodeMessage(data)
		if err != nil {
			t.Fatalf("parseEnvelope(%q) = %+v; the SDK refuses it: %v", in, env, err)
		}
		switch m := msg.(type) {
		case *jsonrpc.Request:
			if m.Method != env.Method || m.ID != env.ID || string(m.Params) != string(env.Params) {
				t.Fatalf("parseEnvelope(%q) = %+v; the SDK reads %+v", in, env, m)
			}
		case *jsonrpc.Response:
			if !env.isResponse() || m.ID != env.ID || string(m.Result) != string(env.Result) || (m.Error != nil) != (env.Error != nil) {
				t.Fatalf("parseEnvelope(%q) = %+v; the SDK reads %+v", in, env, m)
			}
		}
	})
}

// FuzzToolResult checks that whatever readToolResult reads, the SDK reads
// the same way.
func FuzzToolResult(f *testing.F) {
	for _, s := range []string{
		`{"content":[{"type":"text","text":"hi"}],"isError":false}`,
		`{"content":[{"type":"text","text":"a\"b\\c"}],"structuredContent":[1,2]}`,
		`{"_meta":{"x":{"y":null}},"content":[]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return
		}
		if ours, ok := readToolResult([]byte(in)); ok {
			compareWithSDK(t, in, ours)
		}
	})
}

// TestFastPathConcurrentSessions runs sessions side by side, each with
// calls in flight together: every call gets its own result and its own
// progress.
func TestFastPathConcurrentSessions(t *testing.T) {
	ts := streamableUpstream(t, nil, nil)
	f, url := startFront(t, &Spec{Name: "up", URL: ts.URL}, nil)
	const sessions, calls = 4, 20
	var wg sync.WaitGroup
	for s := range sessions {
		rec := new(agentRecord)
		cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, agentOptions(rec), "2025-11-25")
		for c := range calls {
			wg.Go(func() {
				want := fmt.Sprintf("s%d-c%d", s, c)
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": want}})
				if err != nil || text(t, res) != "echo: "+want {
					t.Errorf("echo %s = %v, %v", want, res, err)
				}
				p := &mcp.CallToolParams{Name: "progress", Arguments: map[string]any{"steps": 2}}
				p.SetProgressToken(want)
				if res, err := cs.CallTool(context.Background(), p); err != nil || text(t, res) != "done" {
					t.Errorf("progress %s = %v, %v", want, res, err)
				}
			})
		}
		t.Cleanup(func() {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, p := range rec.progress {
				if tok, _ := p.ProgressToken.(string); !strings.HasPrefix(tok, fmt.Sprintf("s%d-", s)) {
					t.Errorf("session %d got progress for %v", s, p.ProgressToken)
				}
			}
		})
	}
	wg.Wait()
	if n := f.fastCalls.Load(); n != 2*sessions*calls {
		t.Errorf("the fast path served %d calls; want %d", n, 2*sessions*calls)
	}
}
