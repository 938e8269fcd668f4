package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

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
		name := c.Params.Name
		var ti *auth.TokenInfo
		if c.Extra != nil {
			ti = c.Extra.TokenInfo
		}
		id := identityOf(ti)
		bounds := boundsOf(e.g.cfg.Load())
		if n := int64(len(c.Params.Arguments)); n > bounds.MaxArgumentBytes {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q: arguments of %d bytes exceed the gateway's limit of %d", name, n, bounds.MaxArgumentBytes)}
		}
		if d := jsonDepth(c.Params.Arguments, bounds.MaxDepth); d > bounds.MaxDepth {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q: arguments nest deeper than the gateway's limit of %d", name, bounds.MaxDepth)}
		}
		if key := id.key(); key != "" {
			if !e.g.calls.acquire(key, bounds.MaxCallsPerGrant) {
				e.logger.Warn("call refused: too many in flight", "tool", name, "principal", key)
				return denial(name, fmt.Sprintf("too many calls in flight for this credential (at most %d); retry when one finishes", bounds.MaxCallsPerGrant), "/bounds/max_calls_per_grant"), nil
			}
			defer e.g.calls.release(key)
		}
		p := e.policyFor(id)
		if p == nil {
			return next(ctx, c)
		}
		args, err := c.Args()
		if err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q: %v", name, err)}
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
		d := p.Decide(in)
		log := e.logger.With("tool", name, "session", c.Session.ID, "rule", d.Rule)
		if id != nil && id.Grant != nil {
			log = log.With("grant", id.Grant.Label)
		}
		switch d.Outcome {
		case policy.Hidden:
			log.Info("call denied: hidden tool")
			return nil, proxy.UnknownTool(name)
		case policy.Deny:
			log.Info("call denied", "reason", d.Reason)
			return denial(name, d.Reason, d.Rule), nil
		case policy.Approve:
			// Holding calls for a person's decision needs the approval
			// store; until it is configured such calls cannot proceed.
			log.Info("call denied: approval required but approvals are not enabled")
			return denial(name, "requires a person's approval, and approvals are not enabled on this gateway", d.Rule), nil
		}
		if r := e.charge(ctx, c, in, &d, id); r != nil {
			return r, nil
		}
		log.Debug("call allowed")
		return next(ctx, c)
	}
}

// policyFor returns the policy that governs a principal's calls: its
// grant's own policy when it has one, else the server's.
func (e *enforcer) policyFor(id *Identity) *policy.Policy {
	if id != nil && id.Grant != nil && id.Grant.Policy != "" {
		return e.g.grantPolicy(id.Grant.Policy)
	}
	return e.policy.Load()
}

func (e *enforcer) filter(_ context.Context, s *proxy.Session, tools []*mcp.Tool) []*mcp.Tool {
	p := e.policyFor(identityOf(s.Auth))
	if p == nil {
		return tools
	}
	out := make([]*mcp.Tool, 0, len(tools))
	for _, t := range tools {
		if p.Listed(t.Name) {
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
