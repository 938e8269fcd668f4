package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"

	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/proxy"
)

// An enforcer applies one server's policy to the calls and listings that
// pass through its Front. The policy is a snapshot swapped atomically on
// reload; each call loads it once and keeps it.
type enforcer struct {
	g      *Gateway
	server string
	logger *slog.Logger
	policy atomic.Pointer[policy.Policy] // nil: no policy file, everything passes
}

func (e *enforcer) intercept(next proxy.Handler) proxy.Handler {
	return func(ctx context.Context, c *proxy.Call) (*mcp.CallToolResult, error) {
		e.g.inflight.Add(1)
		defer e.g.inflight.Add(-1)
		o := &outcome{start: e.g.now(), requestID: newRequestID()}
		ctx, span := e.g.tracing.Start(ctx, "tools/call "+c.Params.Name, headerOf(c),
			attribute.String("mcp.server", e.server), attribute.String("mcp.tool", c.Params.Name))
		res, err := e.enforce(ctx, c, o, func(ctx context.Context, c *proxy.Call) (*mcp.CallToolResult, error) {
			o.forwarded = true
			t := e.g.now()
			res, err := next(ctx, c)
			o.upstream = e.g.now().Sub(t)
			switch {
			case err != nil:
				o.status = "error"
			case res != nil && res.IsError:
				o.status = "tool_error"
			default:
				o.status = "ok"
			}
			return res, err
		})
		e.finish(ctx, c, o, span, err)
		return res, err
	}
}

// enforce decides one call and forwards it through next when it may pass,
// noting what happened in o.
func (e *enforcer) enforce(ctx context.Context, c *proxy.Call, o *outcome, next proxy.Handler) (*mcp.CallToolResult, error) {
	name := c.Params.Name
	id := identityOf(c.Auth)
	o.id = id
	bounds := boundsOf(e.g.cfg.Load())
	if n := int64(len(c.Params.Arguments)); n > bounds.MaxArgumentBytes {
		return nil, o.protocolError(&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q: arguments of %d bytes exceed the gateway's limit of %d", name, n, bounds.MaxArgumentBytes)})
	}
	if d := jsonDepth(c.Params.Arguments, bounds.MaxDepth); d > bounds.MaxDepth {
		return nil, o.protocolError(&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q: arguments nest deeper than the gateway's limit of %d", name, bounds.MaxDepth)})
	}
	if key := id.key(); key != "" {
		if !e.g.calls.acquire(key, bounds.MaxCallsPerGrant) {
			e.logger.Warn("call refused: too many in flight", "tool", name, "principal", key)
			return o.deny(denial(name, fmt.Sprintf("too many calls in flight for this credential (at most %d); retry when one finishes", bounds.MaxCallsPerGrant), "/bounds/max_calls_per_grant")), nil
		}
		defer e.g.calls.release(key)
	}
	args, argsErr := c.Args()
	o.args = args
	policies := e.policiesFor(id)
	if len(policies) == 0 {
		if r := e.unpinned(ctx, c, o); r != nil {
			return r, nil
		}
		o.decision = "allow"
		return next(ctx, c)
	}
	if argsErr != nil {
		return nil, o.protocolError(&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q: %v", name, argsErr)})
	}
	in := &policy.Input{
		Server:  e.server,
		Tool:    name,
		Args:    args,
		Session: map[string]any{"id": c.Session.ID},
	}
	if id != nil {
		in.User = id.User
		if gr := id.Grant; gr != nil {
			in.Grant = map[string]any{"id": gr.ID, "label": gr.Label}
		}
	}
	d := decide(policies, in)
	o.rule = d.Rule
	log := e.logger.With("tool", name, "session", c.Session.ID, "rule", d.Rule)
	if id != nil && id.Grant != nil {
		log = log.With("grant", id.Grant.Label)
	}
	switch d.Outcome {
	case policy.Hidden:
		log.Info("call denied: hidden tool")
		o.decision, o.message = "hidden", "hidden tool"
		return nil, proxy.UnknownTool(name)
	case policy.Deny:
		log.Info("call denied", "reason", d.Reason)
		return o.deny(denial(name, d.Reason, d.Rule)), nil
	}
	if r := e.unpinned(ctx, c, o); r != nil {
		return r, nil
	}
	if d.Outcome == policy.Approve {
		if r := e.hold(ctx, c, in, &d, o, log); r != nil {
			return r, nil
		}
	}
	if r := e.charge(ctx, c, in, &d, id, o); r != nil {
		return r, nil
	}
	if o.decision == "" {
		o.decision = "allow"
	}
	log.Debug("call allowed")
	return next(ctx, c)
}

// policiesFor returns the policies that govern a principal's calls: the
// server's, and its grant's own when it has one. A grant's policy narrows
// the server's, never widens it: a call must pass both.
func (e *enforcer) policiesFor(id *Identity) []*policy.Policy {
	var ps []*policy.Policy
	if p := e.policy.Load(); p != nil {
		ps = append(ps, p)
	}
	if id != nil && id.Grant != nil && id.Grant.Policy != "" {
		ps = append(ps, e.g.grantPolicy(id.Grant.Policy))
	}
	return ps
}

// decide applies every policy in turn: the first that stops the call
// decides; one that holds it for approval holds it; the call counts against
// the limits of all of them.
func decide(policies []*policy.Policy, in *policy.Input) policy.Decision {
	d := policies[0].Decide(in)
	for _, p := range policies[1:] {
		if d.Outcome == policy.Deny || d.Outcome == policy.Hidden {
			return d
		}
		next := p.Decide(in)
		switch next.Outcome {
		case policy.Deny, policy.Hidden:
			return next
		case policy.Approve:
			if d.Outcome != policy.Approve {
				d.Outcome, d.Rule, d.Reason, d.Approval = next.Outcome, next.Rule, next.Reason, next.Approval
			}
		}
		if len(next.Limits) > 0 {
			d.Limits = append(append([]*policy.Limit(nil), d.Limits...), next.Limits...)
		}
	}
	return d
}

func (e *enforcer) filter(ctx context.Context, s *proxy.Session, tools []*mcp.Tool) []*mcp.Tool {
	tools = e.withholdChanged(ctx, tools)
	policies := e.policiesFor(identityOf(s.Auth))
	if len(policies) == 0 {
		return tools
	}
	out := make([]*mcp.Tool, 0, len(tools))
	for _, t := range tools {
		listed := true
		for _, p := range policies {
			listed = listed && p.Listed(t.Name)
		}
		if listed {
			out = append(out, t)
		}
	}
	return out
}

// denial is the result an agent gets for a call the policy stops: one line
// naming the tool, the reason and the rule, marked as an error so the agent
// can adjust.
func denial(tool, reason, rule string) *mcp.CallToolResult {
	reason = strings.TrimSpace(strings.ReplaceAll(reason, "\n", " "))
	text := fmt.Sprintf("Toolgate denied %s: %s (rule %s)", tool, reason, rule)
	return &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: text}},
		Meta: mcp.Meta{"toolgate/decision": map[string]any{
			"decision": "deny",
			"rule":     rule,
			"reason":   reason,
		}},
	}
}
