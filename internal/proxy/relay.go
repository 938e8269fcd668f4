package proxy

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The SDK's sessions expose typed methods for the messages an SDK server or
// client originates, but a gateway must also pass on notifications it did
// not originate (list changes, resource updates, log messages, each exactly
// as the upstream sent it). relayMiddleware, installed as sending middleware,
// gives the gateway that: a notification sent through NotifyProgress with a
// relay in its context goes out as the relay's method and params instead,
// through the SDK's own encoding and stream routing.

type relayKey struct{}

type relay struct {
	method string
	params mcp.Params
	result mcp.Result
	err    error
}

func relayMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		r, ok := ctx.Value(relayKey{}).(*relay)
		if !ok || method != "notifications/progress" {
			return next(ctx, method, req)
		}
		ctx = context.WithValue(ctx, relayKey{}, nil)
		var out mcp.Request
		switch s := req.GetSession().(type) {
		case *mcp.ServerSession:
			out = &mcp.ServerRequest[mcp.Params]{Session: s, Params: r.params}
		case *mcp.ClientSession:
			out = &mcp.ClientRequest[mcp.Params]{Session: s, Params: r.params}
		default:
			return next(ctx, method, req)
		}
		r.result, r.err = next(ctx, r.method, out)
		return nil, nil
	}
}

// relayNotify sends a notification to a downstream session. ctx decides the
// stream: a request's context sends it on that request's stream.
func relayNotify(ctx context.Context, ss *mcp.ServerSession, method string, params mcp.Params) error {
	r := &relay{method: method, params: params}
	if err := ss.NotifyProgress(context.WithValue(ctx, relayKey{}, r), &mcp.ProgressNotificationParams{}); err != nil {
		return err
	}
	return r.err
}

// relayRequest sends a request to a downstream session and returns the
// answer, as the SDK decodes it but without the checks the SDK's typed
// methods add: the upstream asked, and the agent's client decides.
func relayRequest(ctx context.Context, ss *mcp.ServerSession, method string, params mcp.Params) (mcp.Result, error) {
	r := &relay{method: method, params: params}
	if err := ss.NotifyProgress(context.WithValue(ctx, relayKey{}, r), &mcp.ProgressNotificationParams{}); err != nil {
		return nil, err
	}
	return r.result, r.err
}

// relayNotifyUp sends a notification to an upstream session.
func relayNotifyUp(ctx context.Context, cs *mcp.ClientSession, method string, params mcp.Params) error {
	r := &relay{method: method, params: params}
	if err := cs.NotifyProgress(context.WithValue(ctx, relayKey{}, r), &mcp.ProgressNotificationParams{}); err != nil {
		return err
	}
	return r.err
}
