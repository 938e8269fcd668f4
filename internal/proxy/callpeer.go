package proxy

import (
	"context"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serverSession returns the agent's session a request arrived on, if any.
func serverSession(req mcp.Request) *mcp.ServerSession {
	if r, ok := req.(*mcp.ServerRequest[*mcp.CallToolParamsRaw]); ok {
		return r.Session
	}
	return nil
}

// CanElicit reports whether the agent's client declared that it can ask
// its user for input (the elicitation capability) on a protocol revision
// that lets a server ask while serving a request: from 2026-07-28 on, a
// server asks by returning input requests instead, which the gateway does
// not originate.
func (c *Call) CanElicit() bool {
	if c.ss == nil {
		return false
	}
	p := c.ss.InitializeParams()
	return p != nil && p.Capabilities != nil && p.Capabilities.Elicitation != nil && p.ProtocolVersion < "2026-07-28"
}

// Elicit asks the agent's user for input through the client, on the
// call's own request (ctx must be the call's).
func (c *Call) Elicit(ctx context.Context, p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	if c.fast != nil {
		return c.fast.elicit(ctx, p)
	}
	if c.ss == nil {
		return nil, errors.New("the agent's session cannot be asked")
	}
	return c.ss.Elicit(ctx, p)
}

// ProgressToken returns the progress token the agent gave with the call,
// or nil.
func (c *Call) ProgressToken() any {
	if c.fast != nil {
		return c.fast.token
	}
	return c.token
}

// NotifyProgress tells the agent how the call is going, under the call's
// progress token; it does nothing when the agent gave none.
func (c *Call) NotifyProgress(ctx context.Context, progress, total float64, message string) error {
	tok := c.ProgressToken()
	if tok == nil || c.ss == nil {
		return nil
	}
	if c.fast != nil {
		return c.fast.notify("notifications/progress", &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: progress, Total: total, Message: message})
	}
	return c.ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: progress, Total: total, Message: message})
}
