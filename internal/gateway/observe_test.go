package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/oktasim"
	"github.com/toolgate/toolgate/internal/telemetry"
)

// TestMetrics makes calls of each kind and reads them back from /metrics on
// the admin listener, which needs no credential.
func TestMetrics(t *testing.T) {
	h := start(t, `{"version": "1", "default": "deny", "hide": ["delete_*"], "tools": {
		"get_user": {},
		"deactivate_user": {"action": "deny", "reason": "no"},
		"list_users": {"limits": [{"counter": "lists", "window": "minute", "max": 1, "scope": "server"}]}}}`)
	cs := h.connect()
	ctx := context.Background()
	user := h.sim.UserIDs()[0]
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"get_user", map[string]any{"userId": user}},
		{"get_user", map[string]any{"userId": user}},
		{"deactivate_user", map[string]any{"userId": user}},
		{"delete_user", map[string]any{"userId": user}},
		{"create_group", map[string]any{"name": "x"}},
		{"made_up_tool_1", nil},
		{"list_users", nil},
		{"list_users", nil},
	} {
		_, _ = cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
	}
	resp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`toolgate_calls_total{decision="allow",server="okta",tool="get_user"} 2`,
		`toolgate_calls_total{decision="deny",server="okta",tool="deactivate_user"} 1`,
		`toolgate_calls_total{decision="hidden",server="okta",tool="(unlisted)"} 1`,
		`toolgate_calls_total{decision="deny",server="okta",tool="(unlisted)"} 1`,
		`toolgate_calls_total{decision="allow",server="okta",tool="list_users"} 1`,
		`toolgate_calls_total{decision="limited",server="okta",tool="list_users"} 1`,
		`toolgate_budget_spent_total{counter="lists",scope="server",server="okta"} 1`,
		`toolgate_budget_refused_total{counter="lists",scope="server",server="okta"} 1`,
		`toolgate_upstream_latency_seconds_count{server="okta"} 3`,
		`toolgate_gateway_overhead_seconds_count{server="okta"} 7`, // the made-up tool never reached the policy,
		`toolgate_upstream_up{server="okta"} 1`,
		`toolgate_upstream_restarts_total{server="okta"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var ov Overview
	if code := h.api("GET", "/api/v1/overview", nil, &ov); code != 200 || len(ov.Servers) != 1 {
		t.Fatalf("GET overview = %d %+v", code, ov)
	}
	if s := ov.Servers[0]; s.Name != "okta" || !s.Ready || s.Tools != 21 || s.CallsLastMinute != 7 || s.DenialsLastMinute != 4 || s.CallsLastHour != 7 || ov.DenialsLastHour != 4 {
		t.Errorf("overview = %+v; want okta up with 21 tools, 7 calls and 4 denials", ov)
	}
	if strings.Contains(text, "made_up_tool_1") || strings.Contains(text, `tool="delete_user"`) {
		t.Error("/metrics names a tool the agent made up or a hidden one")
	}
}

// headerTransport adds headers to every request, as an agent that sends
// its trace context does.
type headerTransport struct{ h http.Header }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestTracing follows one call from an agent that sends a traceparent: the
// gateway's span continues the agent's trace, carries the decision, and
// its context reaches the HTTP upstream.
func TestTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := telemetry.NewTracingTo(rec, "toolgate-test", "test")
	sim := oktasim.New(nil)
	var mu sync.Mutex
	var upstreamParents []string
	simHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return sim.Server() }, nil)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upstreamParents = append(upstreamParents, r.Header.Get("Traceparent"))
		mu.Unlock()
		simHandler.ServeHTTP(w, r)
	}))
	defer upstream.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "okta.json"), `{"version": "1", "default": "deny", "tools": {"get_user": {}}}`)
	cfg, err := config.Parse(filepath.Join(dir, "toolgate.json"), []byte(`{"auth": "none", "mcpServers": {"okta": {"url": "`+upstream.URL+`", "policy": "okta.json"}}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, &Options{Tracing: tr, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	client := &http.Client{Transport: headerTransport{http.Header{"Traceparent": {"00-" + traceID + "-00f067aa0ba902b7-01"}}}}
	c := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp/okta", HTTPClient: client}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_user", Arguments: map[string]any{"userId": sim.UserIDs()[0]}})
	if err != nil || res.IsError {
		t.Fatalf("CallTool = %v, %v", res, err)
	}
	if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "create_group", Arguments: map[string]any{"name": "x"}}); err != nil || !res.IsError {
		t.Fatalf("CallTool(create_group) = %v, %v; want a denial", res, err)
	}

	spans := rec.Ended()
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = s
	}
	allowed, denied := byName["tools/call get_user"], byName["tools/call create_group"]
	if allowed == nil || denied == nil {
		t.Fatalf("spans = %d %v; want one per call", len(spans), byName)
	}
	if allowed.SpanContext().TraceID().String() != traceID || allowed.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span trace = %s parent %s; want the agent's", allowed.SpanContext().TraceID(), allowed.Parent().SpanID())
	}
	for s, want := range map[sdktrace.ReadOnlySpan]string{allowed: "allow", denied: "deny"} {
		found := false
		for _, a := range s.Attributes() {
			if a.Key == "toolgate.decision" && a.Value.AsString() == want {
				found = true
			}
		}
		if !found {
			t.Errorf("span %s attributes %v; want toolgate.decision=%s", s.Name(), s.Attributes(), want)
		}
	}
	want := "00-" + traceID + "-" + allowed.SpanContext().SpanID().String() + "-01"
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(upstreamParents, want) {
		t.Errorf("upstream traceparents = %q; want one of %q (the call's span)", upstreamParents, want)
	}
}

// TestReadyzChecksStores: a replica whose shared budget store does not
// answer is not ready, and says why.
func TestReadyzChecksStores(t *testing.T) {
	h := startWith(t, `{"version": "1", "default": "allow"}`, `"redis": "redis://127.0.0.1:1/0",`)
	if err := h.g.Front("okta").WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(h.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Ready   bool
		Servers map[string]string
		Stores  map[string]string
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || body.Ready || body.Servers["okta"] != "up" || !strings.HasPrefix(body.Stores["redis"], "down: ") {
		t.Errorf("readyz = %d %+v; want 503 naming the budget store", resp.StatusCode, body)
	}
}
