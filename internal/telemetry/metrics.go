// Package telemetry is how operators watch the gateway: Prometheus metrics
// served on the admin listener, and OpenTelemetry traces exported over OTLP
// when configured.
package telemetry

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's Prometheus metrics, registered in a registry of
// their own. A nil *Metrics records nothing, so code paths need no checks.
// All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	calls        *prometheus.CounterVec
	overhead     *prometheus.HistogramVec
	upstream     *prometheus.HistogramVec
	budgetSpent  *prometheus.CounterVec
	budgetDenied *prometheus.CounterVec
	pending      prometheus.Gauge
	reloads      *prometheus.CounterVec
	toolChanges  *prometheus.CounterVec
	auditQueued  prometheus.Counter
	auditFailed  prometheus.Counter
}

// latencyBuckets span 50µs to 10s: gateway overhead sits at the low end,
// upstream calls anywhere.
var latencyBuckets = []float64{
	.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
}

// NewMetrics returns the gateway's metrics, with the Go runtime and process
// collectors beside them.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolgate_calls_total",
		Help: "Tool calls decided, by server, tool and decision (allow, deny, hidden, limited, approval_pending, approved, approval_denied, error).",
	}, []string{"server", "tool", "decision"})
	m.overhead = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "toolgate_gateway_overhead_seconds",
		Help:    "Time a tool call spent in the gateway itself, excluding the upstream and any wait for a person's approval.",
		Buckets: latencyBuckets,
	}, []string{"server"})
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "toolgate_upstream_latency_seconds",
		Help:    "Time from forwarding a tool call to the upstream's answer.",
		Buckets: latencyBuckets,
	}, []string{"server"})
	m.budgetSpent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolgate_budget_spent_total",
		Help: "Units spent from each budget counter by admitted calls.",
	}, []string{"server", "counter", "scope"})
	m.budgetDenied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolgate_budget_refused_total",
		Help: "Calls refused because a budget counter was spent.",
	}, []string{"server", "counter", "scope"})
	m.pending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "toolgate_approvals_pending",
		Help: "Approvals waiting for a person's decision.",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolgate_reloads_total",
		Help: "Config and policy reloads, by result (ok or error).",
	}, []string{"result"})
	m.toolChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "toolgate_tool_definition_changes_total",
		Help: "Upstream tool definitions seen to differ from their pinned definition.",
	}, []string{"server", "tool"})
	m.auditQueued = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "toolgate_audit_records_total",
		Help: "Audit records handed to the audit writer.",
	})
	m.auditFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "toolgate_audit_write_errors_total",
		Help: "Failed attempts to write a batch of audit records (retried).",
	})
	m.reg.MustRegister(m.calls, m.overhead, m.upstream, m.budgetSpent, m.budgetDenied,
		m.pending, m.reloads, m.toolChanges, m.auditQueued, m.auditFailed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register adds collectors of the caller's (such as per-upstream state read
// at scrape time).
func (m *Metrics) Register(c prometheus.Collector) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(c)
}

// Unregister removes a collector added with Register.
func (m *Metrics) Unregister(c prometheus.Collector) {
	if m != nil {
		m.reg.Unregister(c)
	}
}

// Call records one decided tool call. upstream is zero when the call was
// not forwarded.
func (m *Metrics) Call(server, tool, decision string, overhead, upstream time.Duration, forwarded bool) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(server, tool, decision).Inc()
	m.overhead.WithLabelValues(server).Observe(overhead.Seconds())
	if forwarded {
		m.upstream.WithLabelValues(server).Observe(upstream.Seconds())
	}
}

// Spent records cost units spent from a budget counter.
func (m *Metrics) Spent(server, counter, scope string, cost int64) {
	if m != nil && cost > 0 {
		m.budgetSpent.WithLabelValues(server, counter, scope).Add(float64(cost))
	}
}

// Refused records a call refused by a budget counter.
func (m *Metrics) Refused(server, counter, scope string) {
	if m != nil {
		m.budgetDenied.WithLabelValues(server, counter, scope).Inc()
	}
}

// PendingApprovals sets the number of approvals awaiting a decision.
func (m *Metrics) PendingApprovals(n int) {
	if m != nil {
		m.pending.Set(float64(n))
	}
}

// Reload records a config or policy reload.
func (m *Metrics) Reload(ok bool) {
	if m == nil {
		return
	}
	result := "ok"
	if !ok {
		result = "error"
	}
	m.reloads.WithLabelValues(result).Inc()
}

// ToolChanged records an upstream tool whose definition changed.
func (m *Metrics) ToolChanged(server, tool string) {
	if m != nil {
		m.toolChanges.WithLabelValues(server, tool).Inc()
	}
}

// AuditRecord records a record handed to the audit writer.
func (m *Metrics) AuditRecord() {
	if m != nil {
		m.auditQueued.Inc()
	}
}

// AuditError records a failed audit write.
func (m *Metrics) AuditError() {
	if m != nil {
		m.auditFailed.Inc()
	}
}

// UpstreamState reports each upstream's health at scrape time.
type UpstreamState struct {
	Server   string
	Up       bool
	Restarts int64
}

// UpstreamCollector exports the state that states returns at each scrape
// as toolgate_upstream_up and toolgate_upstream_restarts_total.
func UpstreamCollector(states func() []UpstreamState) prometheus.Collector {
	return &upstreamCollector{states: states}
}

type upstreamCollector struct{ states func() []UpstreamState }

var (
	upDesc       = prometheus.NewDesc("toolgate_upstream_up", "Whether the gateway's connection to the upstream server is up (1) or not (0).", []string{"server"}, nil)
	restartsDesc = prometheus.NewDesc("toolgate_upstream_restarts_total", "Times the upstream connection or process was restarted.", []string{"server"}, nil)
)

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upDesc
	ch <- restartsDesc
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.states() {
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up, s.Server)
		ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(s.Restarts), s.Server)
	}
}
