package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A link is one upstream MCP session. Each downstream session gets its own
// link, so that everything the protocol keeps per session (the client's
// capabilities, log level, subscriptions, elicitation and sampling requests)
// stays between that agent and its own upstream session. A Front's primary
// link serves requests that carry no session (the stateless protocol).
//
// A link whose upstream session ends reconnects with backoff until it is
// closed; calls made meanwhile fail at once with errUnavailable.
type link struct {
	front   *Front
	session *Session
	ss      *mcp.ServerSession    // nil for the primary link
	peer    *mcp.InitializeParams // the downstream client's handshake; nil for the primary link
	logger  *slog.Logger

	// downReady is set once the downstream client has completed the
	// handshake: the upstream's notifications before that (a server may
	// announce list changes as it starts) are not the client's to see, and
	// on a single-stream transport they would precede the handshake's answer.
	downReady atomic.Bool

	ctx    context.Context // ends when the link is closed
	cancel context.CancelFunc
	done   chan struct{} // closed when supervise returns

	mu       sync.Mutex
	cs       *mcp.ClientSession    // guarded by mu; nil while reconnecting
	up       *upstreamHTTP         // guarded by mu: the fast path's way into cs, if it has one
	downErr  error                 // guarded by mu: why cs is nil
	closed   bool                  // guarded by mu
	logLevel mcp.LoggingLevel      // guarded by mu; replayed after a reconnect
	subs     map[string]bool       // guarded by mu; replayed after a reconnect
	inflight []*inflight           // guarded by mu: forwarded requests, oldest first
	tokens   map[string]*inflight  // guarded by mu: gateway progress token → request
	nextTok  uint64                // guarded by mu
	tools    map[string]*mcp.Tool  // guarded by mu: the upstream's tools as last listed
	toolsAt  time.Time             // guarded by mu: when tools was last fetched whole
	ready    chan struct{}         // closed once the first connection is made
	initRes  *mcp.InitializeResult // guarded by mu: the upstream's handshake
}

// inflight is a downstream request being served through the link. Its ctx
// routes upstream notifications and requests to the stream of the request
// that caused them.
type inflight struct {
	ctx   context.Context
	ss    *mcp.ServerSession // the downstream session; per request on the primary link
	token any                // the downstream progress token, if any
	route bool               // upstream requests made meanwhile may belong to it
	fast  *fastCall          // the call's own stream, for a call on the fast path
}

// routable lists the methods during which an upstream may ask the agent
// something or log on its behalf; requests such as logging/setLevel or a
// listing end too soon to carry anything else.
var routable = map[string]bool{
	"tools/call": true, "prompts/get": true, "resources/read": true, "completion/complete": true,
}

func newLink(f *Front, s *Session, ss *mcp.ServerSession, peer *mcp.InitializeParams) *link {
	ctx, cancel := context.WithCancel(context.Background())
	return &link{
		front:   f,
		session: s,
		ss:      ss,
		peer:    peer,
		logger:  f.logger.With("session", s.ID),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		ready:   make(chan struct{}),
		subs:    make(map[string]bool),
		tokens:  make(map[string]*inflight),
	}
}

// connect makes the first upstream connection and starts supervising it.
// With retry, a failed first attempt is retried in the background (the
// primary link); without, its error is returned and the link is unusable.
func (l *link) connect(ctx context.Context, retry bool) error {
	cs, transport, err := l.dial(ctx)
	if err != nil && !retry {
		close(l.done)
		return err
	}
	if err != nil {
		l.setDown(err)
		l.logger.Warn("upstream not reachable; retrying", "error", err)
	} else {
		l.setUp(cs, transport)
	}
	go l.supervise(cs)
	return nil
}

func (l *link) dial(ctx context.Context) (*mcp.ClientSession, string, error) {
	ctx, cancel := context.WithTimeout(ctx, l.front.opts.DialTimeout)
	defer cancel()
	version := ""
	if l.peer != nil {
		version = l.peer.ProtocolVersion
	}
	return l.front.spec.dial(ctx, l.ctx, l.newClient(), upstreamVersion(version), l.logger, l.early)
}

// upstreamVersion picks the protocol version to offer upstream. A stateful
// downstream session is best served by a stateful upstream session. The
// primary link, which serves the sessionless revision, offers that
// revision, falling back (in the SDK) for upstreams that predate it.
func upstreamVersion(downstream string) string {
	if downstream == "" || downstream >= "2026-07-28" {
		return "2026-07-28"
	}
	return "2025-11-25"
}

func (l *link) setUp(cs *mcp.ClientSession, transport string) {
	var up *upstreamHTTP
	if transport == TransportStreamable && l.ss != nil {
		up = l.front.newUpstreamHTTP(cs)
	}
	l.mu.Lock()
	l.cs, l.downErr, l.up = cs, nil, up
	l.initRes = cs.InitializeResult()
	l.tools, l.toolsAt = nil, time.Time{}
	first := l.ready
	l.mu.Unlock()
	select {
	case <-first:
	default:
		close(first)
	}
}

func (l *link) setDown(err error) {
	l.mu.Lock()
	l.cs, l.downErr, l.up = nil, err, nil
	l.mu.Unlock()
}

// supervise waits for the upstream session to end and reconnects it, until
// the link is closed.
func (l *link) supervise(cs *mcp.ClientSession) {
	defer close(l.done)
	for {
		if cs != nil {
			err := cs.Wait()
			if l.ctx.Err() != nil {
				return
			}
			if err == nil {
				err = errors.New("upstream closed the session")
			}
			l.setDown(err)
			l.logger.Warn("upstream session ended; reconnecting", "error", err)
			l.front.restarts.Add(1)
		}
		var transport string
		cs, transport = l.reconnect()
		if cs == nil {
			return
		}
		l.setUp(cs, transport)
		l.replay(cs)
		l.logger.Info("upstream reconnected")
	}
}

// reconnect dials until it succeeds or the link is closed.
func (l *link) reconnect() (*mcp.ClientSession, string) {
	delay := l.front.opts.MinBackoff
	for {
		t := time.NewTimer(delay)
		select {
		case <-l.ctx.Done():
			t.Stop()
			return nil, ""
		case <-t.C:
		}
		cs, transport, err := l.dial(l.ctx)
		if err == nil {
			if l.ctx.Err() != nil {
				_ = cs.Close()
				return nil, ""
			}
			return cs, transport
		}
		l.setDown(err)
		l.logger.Warn("upstream reconnect failed", "error", err, "retry_in", delay)
		delay = min(2*delay, l.front.opts.MaxBackoff)
	}
}

// replay restores the session state the downstream client set up, so that a
// restarted upstream keeps logging and notifying as before.
func (l *link) replay(cs *mcp.ClientSession) {
	l.mu.Lock()
	level := l.logLevel
	subs := make([]string, 0, len(l.subs))
	for uri := range l.subs {
		subs = append(subs, uri)
	}
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(l.ctx, l.front.opts.DialTimeout)
	defer cancel()
	if level != "" {
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level}); err != nil {
			l.logger.Warn("restoring log level after reconnect", "error", err)
		}
	}
	for _, uri := range subs {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
			l.logger.Warn("restoring subscription after reconnect", "uri", uri, "error", err)
		}
	}
	// The tools may have changed while the upstream was away.
	if l.ss != nil {
		l.notifyDown(context.Background(), "notifications/tools/list_changed", &mcp.ToolListChangedParams{})
	}
}

// close ends the upstream session and waits for the supervisor.
func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	cs := l.cs
	l.mu.Unlock()
	l.cancel()
	if cs != nil {
		_ = cs.Close()
	}
	<-l.done
}

// fastUpstream returns the live upstream session and the fast path's way
// into it; up is nil when there is none.
func (l *link) fastUpstream() (cs *mcp.ClientSession, up *upstreamHTTP) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs, l.up
}

// client returns the live upstream session, or an error wrapping
// errUnavailable while there is none.
func (l *link) client() (*mcp.ClientSession, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cs != nil {
		return l.cs, nil
	}
	if l.closed {
		return nil, fmt.Errorf("%w: session closed", errUnavailable)
	}
	if l.downErr != nil {
		return nil, fmt.Errorf("%w: %v", errUnavailable, l.downErr)
	}
	return nil, fmt.Errorf("%w: connecting", errUnavailable)
}

// begin registers a downstream request as in flight, swapping its progress
// token for one unique to this link (downstream clients choose tokens freely,
// and several may share the primary link). fast is the call's stream when
// the fast path serves it. The returned func unregisters it.
func (l *link) begin(ctx context.Context, ss *mcp.ServerSession, method string, params mcp.Params, fast *fastCall) func() {
	in := &inflight{ctx: ctx, ss: ss, route: routable[method], fast: fast}
	var tok string
	meta := paramsMeta(params)
	l.mu.Lock()
	if meta != nil {
		if t, ok := meta["progressToken"]; ok && t != nil {
			l.nextTok++
			tok = "tg-" + strconv.FormatUint(l.nextTok, 10)
			in.token = t
			l.tokens[tok] = in
		}
	}
	l.inflight = append(l.inflight, in)
	l.mu.Unlock()
	if tok != "" {
		m := maps.Clone(meta)
		m["progressToken"] = tok
		params.SetMeta(m)
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if tok != "" {
			delete(l.tokens, tok)
		}
		for i, x := range l.inflight {
			if x == in {
				l.inflight = append(l.inflight[:i], l.inflight[i+1:]...)
				break
			}
		}
	}
}

// paramsMeta returns params' _meta, tolerating a nil params pointer.
func paramsMeta(params mcp.Params) map[string]any {
	if params == nil {
		return nil
	}
	// Methods whose params are optional arrive as typed nil pointers, on
	// which GetMeta would dereference nil.
	if v := reflect.ValueOf(params); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return params.GetMeta()
}

// route returns where to send an upstream-initiated message: the newest
// request in flight, so that the message travels on that request's stream,
// or the link's session with a background context (its standalone stream)
// when nothing is in flight. The session is nil on an idle primary link.
// Requests to the agent skip the fast path's calls (fast false): their
// answers come back through the SDK, which must have sent them.
func (l *link) route(fast bool) *inflight {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.inflight) - 1; i >= 0; i-- {
		if in := l.inflight[i]; in.route && (fast || in.fast == nil) {
			return in
		}
	}
	return &inflight{ctx: context.Background(), ss: l.ss}
}

// progress delivers an upstream progress notification to the request that
// asked for it, under the token the downstream client chose.
func (l *link) progress(p *mcp.ProgressNotificationParams) {
	tok, ok := p.ProgressToken.(string)
	if !ok {
		return
	}
	l.mu.Lock()
	in := l.tokens[tok]
	l.mu.Unlock()
	if in == nil {
		l.logger.Debug("progress for a request no longer in flight", "token", tok)
		return
	}
	q := *p
	q.ProgressToken = in.token
	var err error
	if in.fast != nil {
		err = in.fast.notify("notifications/progress", &q)
	} else {
		err = relayNotify(in.ctx, in.ss, "notifications/progress", &q)
	}
	if err != nil {
		l.logger.Debug("forwarding progress", "error", err)
	}
}

// early delivers the notifications that belong to a request in flight
// (progress and log messages) downstream as they are read, so that they
// precede the request's result.
func (l *link) early(req *jsonrpc.Request) bool {
	switch req.Method {
	case "notifications/progress":
		var p mcp.ProgressNotificationParams
		if err := json.Unmarshal(req.Params, &p); err != nil {
			return false
		}
		l.progress(&p)
		return true
	case "notifications/message":
		var p mcp.LoggingMessageParams
		if err := json.Unmarshal(req.Params, &p); err != nil {
			return false
		}
		l.notifyRoute(req.Method, &p)
		return true
	}
	return false
}

// notifyRoute sends a notification that belongs to whatever is in flight.
func (l *link) notifyRoute(method string, params mcp.Params) {
	in := l.route(true)
	var err error
	switch {
	case in.fast != nil:
		err = in.fast.notify(method, params)
	case in.ss == nil:
		return
	default:
		err = relayNotify(in.ctx, in.ss, method, params)
	}
	if err != nil {
		l.logger.Debug("forwarding notification", "method", method, "error", err)
	}
}

// notifyDown sends a notification to this link's downstream session.
func (l *link) notifyDown(ctx context.Context, method string, params mcp.Params) error {
	if l.ss == nil || !l.downReady.Load() {
		return nil
	}
	return relayNotify(ctx, l.ss, method, params)
}

// notified handles a notification from the upstream that the fast path
// read, as the client's handlers (newClient) handle those the SDK reads.
func (l *link) notified(method string, params []byte) {
	ctx := context.Background()
	var err error
	switch method {
	case "notifications/tools/list_changed":
		l.forgetTools()
		err = notifyDecoded[mcp.ToolListChangedParams](ctx, l, method, params)
	case "notifications/prompts/list_changed":
		err = notifyDecoded[mcp.PromptListChangedParams](ctx, l, method, params)
	case "notifications/resources/list_changed":
		err = notifyDecoded[mcp.ResourceListChangedParams](ctx, l, method, params)
	case "notifications/resources/updated":
		err = notifyDecoded[mcp.ResourceUpdatedNotificationParams](ctx, l, method, params)
	default:
		l.logger.Debug("dropping an upstream notification", "method", method)
	}
	if err != nil {
		l.logger.Debug("forwarding notification", "method", method, "error", err)
	}
}

func notifyDecoded[T any, P interface {
	*T
	mcp.Params
}](ctx context.Context, l *link, method string, raw []byte) error {
	p := P(new(T))
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, p); err != nil {
			return err
		}
	}
	return l.notifyDown(ctx, method, p)
}

// knowsTool returns the upstream's definition of the tool named name (nil
// when it offers none), listing the upstream's tools when it has not been
// seen in the last listing.
func (l *link) knowsTool(ctx context.Context, cs *mcp.ClientSession, name string) (*mcp.Tool, error) {
	l.mu.Lock()
	t, ok := l.tools[name]
	fresh := time.Since(l.toolsAt) < time.Second
	l.mu.Unlock()
	if ok || fresh {
		return t, nil
	}
	tools := make(map[string]*mcp.Tool)
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		tools[t.Name] = t
	}
	l.mu.Lock()
	l.tools, l.toolsAt = tools, time.Now()
	l.mu.Unlock()
	return tools[name], nil
}

// sawTools records tools from a listing that passed through.
func (l *link) sawTools(tools []*mcp.Tool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tools == nil {
		l.tools = make(map[string]*mcp.Tool, len(tools))
	}
	for _, t := range tools {
		l.tools[t.Name] = t
	}
}

func (l *link) forgetTools() {
	l.mu.Lock()
	l.tools, l.toolsAt = nil, time.Time{}
	l.mu.Unlock()
}

// newClient builds the upstream client for this link. It advertises exactly
// the capabilities of the downstream client, so that the upstream asks only
// for what the agent's side can answer.
func (l *link) newClient() *mcp.Client {
	opts := &mcp.ClientOptions{
		Logger:       l.logger,
		Capabilities: &mcp.ClientCapabilities{},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			l.progress(req.Params)
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			l.notifyRoute("notifications/message", req.Params)
		},
		ToolListChangedHandler: func(_ context.Context, req *mcp.ToolListChangedRequest) {
			l.forgetTools()
			_ = l.notifyDown(context.Background(), "notifications/tools/list_changed", orEmpty(req.Params))
		},
		PromptListChangedHandler: func(_ context.Context, req *mcp.PromptListChangedRequest) {
			_ = l.notifyDown(context.Background(), "notifications/prompts/list_changed", orEmpty(req.Params))
		},
		ResourceListChangedHandler: func(_ context.Context, req *mcp.ResourceListChangedRequest) {
			_ = l.notifyDown(context.Background(), "notifications/resources/list_changed", orEmpty(req.Params))
		},
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			_ = l.notifyDown(context.Background(), "notifications/resources/updated", orEmpty(req.Params))
		},
		ElicitationCompleteHandler: func(_ context.Context, req *mcp.ElicitationCompleteNotificationRequest) {
			l.notifyRoute("notifications/elicitation/complete", req.Params)
		},
	}
	if l.peer != nil && l.peer.Capabilities != nil {
		pc := l.peer.Capabilities
		opts.Capabilities.Experimental = pc.Experimental
		opts.Capabilities.Extensions = pc.Extensions
		opts.Capabilities.RootsV2 = pc.RootsV2
		if pc.RootsV2 == nil && pc.Roots.ListChanged {
			opts.Capabilities.RootsV2 = &mcp.RootCapabilities{ListChanged: true}
		}
		// Requests for these capabilities are relayed by clientReceive.
		opts.Capabilities.Elicitation = pc.Elicitation
		opts.Capabilities.Sampling = pc.Sampling
	}
	if l.ss == nil {
		// Agents of the sessionless revision answer the upstream's
		// requests for input themselves, by retrying the call: its
		// input-required results pass through to them unchanged.
		opts.MultiRoundTrip = &mcp.MultiRoundTripOptions{Disabled: true}
	}
	c := mcp.NewClient(l.front.clientImpl(l.peer), opts)
	c.AddReceivingMiddleware(l.clientReceive)
	c.AddSendingMiddleware(relayMiddleware)
	return c
}

// orEmpty returns p, or a zero value for a notification that came without
// params: relayed as is, it would go out as "params": null, which JSON-RPC
// does not allow and clients reject.
func orEmpty[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

// downCtx returns a context for a request to the downstream client made on
// behalf of an upstream request: it travels on the stream of the request in
// flight, and ends when either side gives up.
func (l *link) downCtx(upstream context.Context) (context.Context, *mcp.ServerSession, func()) {
	in := l.route(false)
	// The request in flight gives the stream, not the lifetime: the
	// upstream's request lives as long as the upstream waits for it.
	ctx, cancel := context.WithCancel(context.WithoutCancel(in.ctx))
	stop := context.AfterFunc(upstream, cancel)
	return ctx, in.ss, func() { stop(); cancel() }
}

// clientReceive passes the upstream's requests of the agent (elicitation,
// sampling, roots) to the downstream client, on the stream of the request
// in flight, instead of letting the SDK client answer them itself.
func (l *link) clientReceive(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "elicitation/create", "sampling/createMessage", "roots/list":
			dctx, ss, stop := l.downCtx(ctx)
			defer stop()
			if ss == nil {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("%s: no agent request is in flight to ask", method)}
			}
			params := req.GetParams()
			if p, ok := params.(*mcp.ListRootsParams); ok && p == nil {
				params = &mcp.ListRootsParams{} // never "params": null
			}
			res, err := relayRequest(dctx, ss, method, params)
			return res, upstreamError(err)
		}
		return next(ctx, method, req)
	}
}
