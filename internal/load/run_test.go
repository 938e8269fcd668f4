package load

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newUpstream(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewUpstream())
	t.Cleanup(srv.Close)
	return srv
}

func checkOrdered(t *testing.T, r *Result) {
	t.Helper()
	if !(0 < r.P50 && r.P50 <= r.P90 && r.P90 <= r.P99 && r.P99 <= r.Max) {
		t.Errorf("latencies p50 %v, p90 %v, p99 %v, max %v; want 0 < p50 ≤ p90 ≤ p99 ≤ max", r.P50, r.P90, r.P99, r.Max)
	}
}

func TestRunEcho(t *testing.T) {
	srv := newUpstream(t)
	res, err := Run(t.Context(), Options{URL: srv.URL, Sessions: 4, Calls: 300})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Calls != 300 || res.Errors != 0 || res.Sessions != 4 {
		t.Errorf("Run: calls %d, errors %d (%s), sessions %d; want 300, 0, 4", res.Calls, res.Errors, res.FirstError, res.Sessions)
	}
	if res.Elapsed <= 0 || res.Throughput <= 0 {
		t.Errorf("Run: elapsed %v, throughput %v; want both positive", res.Elapsed, res.Throughput)
	}
	checkOrdered(t, res)
}

func TestRunSleep(t *testing.T) {
	srv := newUpstream(t)
	res, err := Run(t.Context(), Options{URL: srv.URL, Sessions: 2, Calls: 20, Tool: SleepTool, Args: map[string]any{"ms": 2}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Calls != 20 || res.Errors != 0 {
		t.Errorf("Run: calls %d, errors %d (%s); want 20, 0", res.Calls, res.Errors, res.FirstError)
	}
	checkOrdered(t, res)
	// A lower bound the tool guarantees, not a speed.
	if res.P50 < 2*time.Millisecond {
		t.Errorf("Run: p50 %v; want at least the 2ms the tool sleeps", res.P50)
	}
}

func TestRunDurationAndWarmup(t *testing.T) {
	srv := newUpstream(t)
	res, err := Run(t.Context(), Options{URL: srv.URL, Sessions: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Calls == 0 || res.Errors != 0 {
		t.Errorf("Run: calls %d, errors %d (%s); want some calls, no error", res.Calls, res.Errors, res.FirstError)
	}
	checkOrdered(t, res)
}

func TestRunCountsFailures(t *testing.T) {
	srv := newUpstream(t)
	for _, tc := range []struct {
		name    string
		tool    string
		args    map[string]any
		wantErr string
	}{
		{"tool error", SleepTool, map[string]any{"ms": -1}, "tools/call sleep: tool error: sleep: ms = -1"},
		{"unknown tool", "nosuchtool", nil, "nosuchtool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(t.Context(), Options{URL: srv.URL, Sessions: 2, Calls: 30, Tool: tc.tool, Args: tc.args})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Calls != 30 || res.Errors != 30 {
				t.Errorf("Run: calls %d, errors %d; want 30, 30", res.Calls, res.Errors)
			}
			if !strings.Contains(res.FirstError, tc.wantErr) {
				t.Errorf("Run: first error %q; want it to contain %q", res.FirstError, tc.wantErr)
			}
			if res.Throughput != 0 || res.P50 != 0 || res.Max != 0 {
				t.Errorf("Run: throughput %v, p50 %v, max %v; want zeros, failed calls are not timed", res.Throughput, res.P50, res.Max)
			}
		})
	}
}

// TestRunHeader checks that Header reaches every request a session makes:
// the POSTs, the standalone SSE GET and the closing DELETE.
func TestRunHeader(t *testing.T) {
	upstream := NewUpstream()
	var mu sync.Mutex
	authorized := map[string]int{} // by method; guarded by mu
	missing := 0                   // guarded by mu
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := r.Header.Get("Authorization") == "Bearer secret"
		if ok {
			authorized[r.Method]++
		} else {
			missing++
		}
		mu.Unlock()
		if !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		upstream.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	h := http.Header{}
	h.Set("Authorization", "Bearer secret")
	res, err := Run(t.Context(), Options{URL: srv.URL, Header: h, Sessions: 2, Calls: 20})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Calls != 20 || res.Errors != 0 {
		t.Errorf("Run: calls %d, errors %d (%s); want 20, 0", res.Calls, res.Errors, res.FirstError)
	}
	mu.Lock()
	if missing != 0 {
		t.Errorf("%d requests without the header; want 0", missing)
	}
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		if authorized[m] < 2 {
			t.Errorf("%d authorized %s requests; want at least one per session", authorized[m], m)
		}
	}
	mu.Unlock()

	if _, err := Run(t.Context(), Options{URL: srv.URL, Sessions: 2, Calls: 20}); err == nil {
		t.Errorf("Run without the header: no error; want the initialization to fail")
	}
}

// TestRunCancel cancels the run from the upstream, at its 20th call, and
// expects Run to stop with what it measured and the context's error.
func TestRunCancel(t *testing.T) {
	upstream := NewUpstream()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isToolCall(r) && calls.Add(1) == 20 {
			cancel()
		}
		upstream.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	res, err := Run(ctx, Options{URL: srv.URL, Sessions: 2, Duration: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: error %v; want context.Canceled", err)
	}
	if res == nil || res.Calls == 0 || res.Errors != 0 {
		t.Errorf("Run: %+v; want the calls made before the cancellation, none failed", res)
	}
}

// isToolCall reports whether r posts a tools/call, restoring its body.
func isToolCall(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	var msg struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call"
}

// TestRunCallTimeout checks that a call left unanswered ends its session
// rather than the run hanging. (The upstream may still hold the abandoned
// call when the session is closed, and closing waits for it, so it is kept
// short.)
func TestRunCallTimeout(t *testing.T) {
	srv := newUpstream(t)
	res, err := Run(t.Context(), Options{
		URL: srv.URL, Sessions: 2, Calls: 10, CallTimeout: 50 * time.Millisecond,
		Tool: SleepTool, Args: map[string]any{"ms": 300},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Calls != 2 || res.Errors != 2 {
		t.Errorf("Run: calls %d, errors %d; want one lost call per session", res.Calls, res.Errors)
	}
	if want := "no answer within 50ms"; !strings.Contains(res.FirstError, want) {
		t.Errorf("Run: first error %q; want it to contain %q", res.FirstError, want)
	}
}

func TestRunInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no URL", Options{}, "want an http or https URL"},
		{"not http", Options{URL: "ftp://example.com/mcp"}, "want an http or https URL"},
		{"negative sessions", Options{URL: "http://127.0.0.1:1/mcp", Sessions: -1}, "Sessions is negative"},
		{"negative duration", Options{URL: "http://127.0.0.1:1/mcp", Duration: -time.Second}, "Duration is negative"},
		{"negative calls", Options{URL: "http://127.0.0.1:1/mcp", Calls: -1}, "Calls is negative"},
		{"bad args", Options{URL: "http://127.0.0.1:1/mcp", Args: map[string]any{"f": func() {}}}, "encode arguments"},
		{"unreachable", Options{URL: "http://127.0.0.1:1/mcp", Sessions: 1, Calls: 1}, "initialize session 1 of 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(t.Context(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run(%+v) = %v; want an error containing %q", tc.opts, err, tc.want)
			}
			if res != nil {
				t.Errorf("Run(%+v) returned a result with its error", tc.opts)
			}
		})
	}
}

// TestRunReplicas spreads the sessions over several endpoints, one session
// to each in turn.
func TestRunReplicas(t *testing.T) {
	var hits [3]atomic.Int64
	var urls []string
	for i := range hits {
		up := NewUpstream()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			up.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	res, err := Run(t.Context(), Options{Replicas: urls, Sessions: 6, Calls: 120})
	if err != nil || res.Calls != 120 || res.Errors != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	for i := range hits {
		if hits[i].Load() < 2*3 { // two sessions each: at least their handshakes
			t.Errorf("replica %d got %d requests; want its share of the sessions", i, hits[i].Load())
		}
	}
}
