package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/proxy"
)

// An outcome is what happened to one tools/call: the decision, the rule
// that made it, the budgets spent and the upstream's answer. It becomes the
// call's audit record, metrics and span.
type outcome struct {
	start     time.Time
	requestID string
	id        *Identity
	args      map[string]any
	decision  string // allow, deny, hidden, limited, approved, approval_pending, approval_denied, error
	rule      string
	message   string
	counters  []audit.CounterUse

	forwarded bool
	status    string        // the upstream's answer: ok, tool_error, error
	upstream  time.Duration // forwarding until the upstream answered
	waited    time.Duration // holding for a person's decision

	approvalID string          // the approval the call waited on or used
	decidedBy  *approvalRecord // who decided it, when decided
}

// approvalRecord is who decided a call's approval, when and why.
type approvalRecord struct {
	ID, By, Reason, Via string
	At                  time.Time
}

// approved notes a call let through by a person's approval.
func (o *outcome) approved(a *approval.Approval) {
	o.decision = "approved"
	o.note(a)
}

// note records who decided a call's approval.
func (o *outcome) note(a *approval.Approval) {
	o.approvalID = a.ID
	o.decidedBy = &approvalRecord{ID: a.ID, By: a.DecidedBy, Reason: a.DecisionReason, Via: a.Via, At: a.DecidedAt}
}

// deny notes a denial result built by denial.
func (o *outcome) deny(r *mcp.CallToolResult) *mcp.CallToolResult {
	if m, ok := r.Meta["toolgate/decision"].(map[string]any); ok {
		m["request_id"] = o.requestID
		o.decision, _ = m["decision"].(string)
		o.rule, _ = m["rule"].(string)
		o.message, _ = m["reason"].(string)
	}
	return r
}

// protocolError notes a call refused as malformed.
func (o *outcome) protocolError(err *jsonrpc.Error) error {
	o.decision, o.message = "error", err.Message
	return err
}

// finish records the call: metrics, its span, and its audit record.
func (e *enforcer) finish(ctx context.Context, c *proxy.Call, o *outcome, span trace.Span, err error) {
	overhead := e.g.now().Sub(o.start) - o.upstream - o.waited
	if overhead < 0 {
		overhead = 0
	}
	if o.decision == "" {
		o.decision = "error"
		if err != nil {
			o.message = err.Error()
		}
	}
	tool := c.Params.Name
	if o.decision == "hidden" || (o.rule == "/default" && o.decision == "deny") {
		// Names the agent made up must not mint metric series.
		tool = "(unlisted)"
	}
	e.g.metrics.Call(e.server, tool, o.decision, overhead, o.upstream, o.forwarded)
	e.g.activity.add(e.server, o.start, denied(o.decision))
	if o.forwarded {
		for _, u := range o.counters {
			e.g.metrics.Spent(e.server, u.Counter, u.Scope, u.Cost)
		}
	}
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("toolgate.decision", o.decision),
			attribute.String("toolgate.rule", o.rule),
		)
		if o.forwarded {
			span.SetAttributes(attribute.String("toolgate.upstream_status", o.status))
		}
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
	e.record(ctx, c, o, overhead)
}

// headerOf returns the HTTP headers of the request that carried a call, for
// the agent's trace context.
func headerOf(c *proxy.Call) http.Header {
	if c.Extra == nil {
		return nil
	}
	return c.Extra.Header
}
