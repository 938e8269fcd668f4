package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/proxy"
)

// An enforcer applies one server's policy to the calls and listings that
// pass through its Front. The policy is a snapshot swapped atomically on
// reload; each call loads it once and keeps it.
type enforcer struct {
	server string
	logger *slog.Logger
	policy atomic.Pointer[policy.Policy] // nil: no policy file, everything passes
}

func (e *enforcer) intercept(next proxy.Handler) proxy.Handler {
	return func(ctx context.Context, c *proxy.Call) (*mcp.CallToolResult, error) {
		p := e.policy.Load()
		if p == nil {
			return next(ctx, c)
		}
		name := c.Params.Name
		args, err := c.Args()
		if err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q: %v", name, err)}
		}
		d := p.Decide(&policy.Input{
			Server:  e.server,
			Tool:    name,
			Args:    args,
			Session: map[string]any{"id": c.Session.ID},
		})
		log := e.logger.With("tool", name, "session", c.Session.ID, "rule", d.Rule)
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
		log.Debug("call allowed")
		return next(ctx, c)
	}
}

func (e *enforcer) filter(_ context.Context, _ *proxy.Session, tools []*mcp.Tool) []*mcp.Tool {
	p := e.policy.Load()
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
