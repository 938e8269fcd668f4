package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/toolgate/toolgate/internal/telemetry"
)

func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

func TestMetricsExposition(t *testing.T) {
	m := telemetry.NewMetrics()
	m.Call("okta", "list_users", "allow", 80*time.Microsecond, 3*time.Millisecond, true)
	m.Call("okta", "list_users", "allow", 90*time.Microsecond, 4*time.Millisecond, true)
	m.Call("okta", "delete_user", "deny", 20*time.Microsecond, 0, false)
	m.Spent("okta", "provision_rate", "grant", 6)
	m.Refused("okta", "provision_rate", "grant")
	m.PendingApprovals(3)
	m.Reload(true)
	m.Reload(false)
	m.ToolChanged("okta", "list_users")
	m.AuditRecord()
	if err := m.Register(telemetry.UpstreamCollector(func() []telemetry.UpstreamState {
		return []telemetry.UpstreamState{{Server: "okta", Up: true, Restarts: 2}, {Server: "docs"}}
	})); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m)
	for _, want := range []string{
		`toolgate_calls_total{decision="allow",server="okta",tool="list_users"} 2`,
		`toolgate_calls_total{decision="deny",server="okta",tool="delete_user"} 1`,
		`toolgate_gateway_overhead_seconds_count{server="okta"} 3`,
		`toolgate_gateway_overhead_seconds_bucket{server="okta",le="0.0001"} 3`,
		`toolgate_upstream_latency_seconds_count{server="okta"} 2`,
		`toolgate_budget_spent_total{counter="provision_rate",scope="grant",server="okta"} 6`,
		`toolgate_budget_refused_total{counter="provision_rate",scope="grant",server="okta"} 1`,
		`toolgate_approvals_pending 3`,
		`toolgate_reloads_total{result="ok"} 1`,
		`toolgate_reloads_total{result="error"} 1`,
		`toolgate_tool_definition_changes_total{server="okta",tool="list_users"} 1`,
		`toolgate_audit_records_total 1`,
		`toolgate_upstream_up{server="okta"} 1`,
		`toolgate_upstream_up{server="docs"} 0`,
		`toolgate_upstream_restarts_total{server="okta"} 2`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *telemetry.Metrics
	m.Call("s", "t", "allow", time.Millisecond, time.Millisecond, true)
	m.Spent("s", "c", "grant", 1)
	m.Refused("s", "c", "grant")
	m.PendingApprovals(1)
	m.Reload(true)
	m.ToolChanged("s", "t")
	m.AuditRecord()
	m.AuditError()
	if err := m.Register(telemetry.UpstreamCollector(nil)); err != nil {
		t.Errorf("nil Register = %v", err)
	}
}

// TestTracePropagation follows one call: the agent's traceparent becomes
// the span's parent, and the span's context reaches the upstream's request.
func TestTracePropagation(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := telemetry.NewTracingTo(rec, "toolgate-test", "v0")
	defer tr.Shutdown(context.Background())

	var got http.Header
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	}))
	defer upstream.Close()
	client := &http.Client{Transport: tr.Transport(nil)}

	agent := http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	ctx, span := tr.Start(context.Background(), "tools/call list_users", agent, attribute.String("toolgate.decision", "allow"))
	req, _ := http.NewRequestWithContext(ctx, "POST", upstream.URL, strings.NewReader("{}"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	span.End()
	if req.Header.Get("Traceparent") != "" {
		t.Errorf("the caller's request was modified: %v", req.Header)
	}

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("ended spans = %d; want 1", len(spans))
	}
	s := spans[0]
	if s.Parent().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("span parent = %v; want the agent's traceparent", s.Parent())
	}
	tp := got.Get("Traceparent")
	if want := "00-0af7651916cd43dd8448eb211c80319c-" + s.SpanContext().SpanID().String() + "-01"; tp != want {
		t.Errorf("upstream traceparent = %q; want %q", tp, want)
	}
	if s.Name() != "tools/call list_users" || !hasAttr(s, "toolgate.decision", "allow") {
		t.Errorf("span = %s %v", s.Name(), s.Attributes())
	}
}

func hasAttr(s sdktrace.ReadOnlySpan, k, v string) bool {
	for _, a := range s.Attributes() {
		if string(a.Key) == k && a.Value.AsString() == v {
			return true
		}
	}
	return false
}

func TestNilTracingIsTransparent(t *testing.T) {
	var tr *telemetry.Tracing
	ctx, span := tr.Start(context.Background(), "x", http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})
	span.End()
	if span.SpanContext().IsValid() || ctx == nil {
		t.Errorf("nil Tracing made a span: %v", span.SpanContext())
	}
	if tr.Transport(nil) != http.DefaultTransport {
		t.Error("nil Tracing wrapped the transport")
	}
}

func TestNewTracingRejectsBadEndpoint(t *testing.T) {
	if _, err := telemetry.NewTracing(context.Background(), "localhost:4318", "", ""); err == nil {
		t.Error("NewTracing(localhost:4318) = nil error; want one asking for a URL")
	}
	tr, err := telemetry.NewTracing(context.Background(), "http://127.0.0.1:4318", "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with nothing exported = %v", err)
	}
}

// TestOTLPExport checks that spans leave over OTLP/HTTP to the configured
// collector.
func TestOTLPExport(t *testing.T) {
	got := make(chan string, 4)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type") + " " + map[bool]string{true: "body", false: "empty"}[len(body) > 0]
	}))
	defer collector.Close()
	tr, err := telemetry.NewTracing(context.Background(), collector.URL, "toolgate-test", "v0")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Start(context.Background(), "tools/call list_users", nil)
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	select {
	case r := <-got:
		if r != "POST /v1/traces application/x-protobuf body" {
			t.Errorf("collector got %q", r)
		}
	default:
		t.Fatal("the collector received no spans")
	}
}
