// Package proxy carries MCP between agents and one upstream server: the
// transports and sessions on both sides, and the forwarding of every request,
// notification and server-initiated request between them.
//
// A [Front] terminates MCP on both sides with the official SDK, so each side
// speaks its own protocol revision (a 2026-07-28 stateless client can use a
// 2025-06-18 stdio server), and forwards every method with the SDK's typed,
// case-sensitive decoding. Policy is not decided here: a Front consults its
// [Options.Intercept] before each tools/call and [Options.FilterTools] for
// each tools/list page.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A Session is the gateway's view of one agent session on one upstream.
// Its fields are set when the session begins and not changed after.
type Session struct {
	// ID is the downstream MCP session id; "" for a request that carries no
	// session (the stateless protocol).
	ID string
	// Server is the upstream's name.
	Server string
	// Client is how the agent introduced itself; nil when it did not.
	Client *mcp.Implementation
	// Auth is what authenticated the request that began the session, as
	// the HTTP layer put it in the request (nil without authentication).
	Auth *auth.TokenInfo
}

// A Call is one tools/call on its way upstream.
type Call struct {
	Session *Session
	// Params are the call's parameters as the SDK decoded them, or as the
	// fast path read them (exactly; fast.go). The name is matched
	// case-sensitively, and what the intercept passes on is what is
	// forwarded.
	Params *mcp.CallToolParamsRaw
	// Tool is the upstream's definition of the tool, as last listed. It
	// must not be modified.
	Tool *mcp.Tool
	// Extra carries the HTTP request's headers and token info, when any.
	Extra *mcp.RequestExtra
	// Auth is what authenticated the call: its own HTTP request's token
	// info, or for transports whose messages arrive apart from the request
	// that authenticated the session (legacy SSE), the session's.
	Auth *auth.TokenInfo

	argsOnce sync.Once
	args     map[string]any
	argsErr  error

	ss    *mcp.ServerSession // the agent's session, to ask it or tell it things
	fast  *fastCall          // the call's stream, when the fast path serves it
	token any                // the agent's progress token, on the SDK path
}

// Args returns the call's arguments decoded as a JSON object (nil when the
// call has none). The result is computed once and must not be modified.
func (c *Call) Args() (map[string]any, error) {
	c.argsOnce.Do(func() {
		raw := c.Params.Arguments
		if len(raw) == 0 || string(raw) == "null" {
			return
		}
		if err := json.Unmarshal(raw, &c.args); err != nil {
			c.argsErr = fmt.Errorf("arguments must be a JSON object: %w", err)
		}
	})
	return c.args, c.argsErr
}

// A Handler serves a tools/call.
type Handler func(ctx context.Context, c *Call) (*mcp.CallToolResult, error)

// Options configure a [Front]. The zero value is usable: it forwards
// everything and filters nothing.
type Options struct {
	Logger *slog.Logger
	// Intercept wraps the forwarding of every tools/call: it may return a
	// result of its own (a denial) instead of calling next. It must not
	// modify a result next returns (return a new one instead): the Front
	// may send the agent the upstream's own encoding of that result.
	Intercept func(next Handler) Handler
	// FilterTools returns the tools of one tools/list page the session may
	// see. It must not modify the tools.
	FilterTools func(ctx context.Context, s *Session, tools []*mcp.Tool) []*mcp.Tool
	// OpenSession, if set, is asked before a stateful session connects
	// upstream. An error refuses the session with its text; otherwise the
	// returned func is called when the session ends.
	OpenSession func(s *Session) (end func(), err error)
	// Implementation names the gateway where the SDK needs one; nil means
	// "toolgate".
	Implementation *mcp.Implementation
	// DialTimeout bounds connecting to the upstream; zero means 30s.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay between reconnection
	// attempts; zero means 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// SessionTimeout closes downstream HTTP sessions idle this long, and
	// their upstream sessions with them; zero means 30 minutes.
	SessionTimeout time.Duration
	// MaxRequestBytes bounds an HTTP request body; zero means 4 MiB.
	MaxRequestBytes int64
}

// A Front serves one upstream to agents over Streamable HTTP, legacy
// HTTP+SSE and stdio. It is safe for concurrent use.
type Front struct {
	spec   *Spec
	opts   Options
	logger *slog.Logger
	server *mcp.Server

	streamable http.Handler // stateful sessions
	stateless  http.Handler // requests of the sessionless protocol
	sse        http.Handler

	primary *link

	mu    sync.Mutex
	links map[*mcp.ServerSession]*link // guarded by mu
	downs map[string]*down             // guarded by mu: stateful Streamable HTTP sessions by ID
	shut  bool                         // guarded by mu: Close has begun; no watcher starts
	wg    sync.WaitGroup               // session watchers; Add only under mu, while !shut

	plainClient *http.Client // the fast path's requests upstream
	pool        *connPool    // the same, when it can make them; nil otherwise
	askIDs      atomic.Uint64
	fastCalls   atomic.Int64 // calls the fast path took

	restarts atomic.Int64
	cancels  cancelled
}

// NewFront returns a Front for spec and starts connecting its primary
// upstream session in the background. Call Close to stop it.
func NewFront(spec *Spec, opts *Options) *Front {
	f := &Front{spec: spec, links: make(map[*mcp.ServerSession]*link), downs: make(map[string]*down), plainClient: spec.plainClient()}
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.Logger == nil {
		f.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if f.opts.Implementation == nil {
		f.opts.Implementation = &mcp.Implementation{Name: "toolgate"}
	}
	if f.opts.DialTimeout <= 0 {
		f.opts.DialTimeout = 30 * time.Second
	}
	if f.opts.MinBackoff <= 0 {
		f.opts.MinBackoff = 100 * time.Millisecond
	}
	if f.opts.MaxBackoff <= 0 {
		f.opts.MaxBackoff = 10 * time.Second
	}
	if f.opts.SessionTimeout <= 0 {
		f.opts.SessionTimeout = 30 * time.Minute
	}
	f.logger = f.opts.Logger.With("server", spec.Name)

	f.server = mcp.NewServer(f.opts.Implementation, &mcp.ServerOptions{
		Logger: f.logger,
		// Subscriptions are forwarded; the SDK needs handlers to accept them.
		SubscribeHandler:   f.subscribe,
		UnsubscribeHandler: f.unsubscribe,
	})
	f.server.AddReceivingMiddleware(f.receive)
	f.server.AddSendingMiddleware(relayMiddleware)
	get := func(*http.Request) *mcp.Server { return f.server }
	f.streamable = mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
		Logger: f.logger,
		// Idle sessions are closed by the Front (down.go), which sees the
		// requests the fast path serves.
		MaxRequestBodyBytes: f.opts.MaxRequestBytes,
	})
	f.stateless = mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
		Logger:                       f.logger,
		Stateless:                    true,
		MaxRequestBodyBytes:          f.opts.MaxRequestBytes,
		PropagateRequestCancellation: true,
	})
	f.sse = mcp.NewSSEHandler(get, &mcp.SSEOptions{MaxRequestBodyBytes: f.opts.MaxRequestBytes})

	f.pool = newConnPool(spec.URL, f.plainClient)
	f.primary = newLink(f, &Session{Server: spec.Name}, nil, nil)
	_ = f.primary.connect(f.primary.ctx, true)
	return f
}

// Name returns the upstream's name.
func (f *Front) Name() string { return f.spec.Name }

// Restarts returns how many times an upstream session of this Front ended
// unexpectedly and was reconnected.
func (f *Front) Restarts() int64 { return f.restarts.Load() }

// Ready reports whether the primary upstream session is connected.
func (f *Front) Ready() bool {
	_, err := f.primary.client()
	return err == nil
}

// WaitReady waits until the primary upstream session is connected.
func (f *Front) WaitReady(ctx context.Context) error {
	select {
	case <-f.primary.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Upstream returns the primary upstream session's handshake, or nil before
// the first connection.
func (f *Front) Upstream() *mcp.InitializeResult {
	f.primary.mu.Lock()
	defer f.primary.mu.Unlock()
	return f.primary.initRes
}

// Tools lists the upstream's tools through the primary session, unfiltered.
func (f *Front) Tools(ctx context.Context) ([]*mcp.Tool, error) {
	cs, err := f.primary.client()
	if err != nil {
		return nil, err
	}
	var tools []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// ServeHTTP serves the Streamable HTTP transport. Requests of the
// sessionless protocol revision go to a stateless handler; all others to the
// stateful one, which keeps one upstream session per agent session.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" && r.Header.Get("Mcp-Protocol-Version") >= "2026-07-28" {
		f.stateless.ServeHTTP(w, r)
		return
	}
	switch {
	case sid == "" && r.Method == http.MethodPost:
		// Sessions begin here; initialize recognises them by this mark.
		r = r.WithContext(context.WithValue(r.Context(), streamableKey{}, f))
	case sid != "" && r.Method == http.MethodPost:
		f.servePOST(w, r, sid)
		return
	case sid != "" && r.Method == http.MethodDelete:
		f.cancels.forget(sid)
	}
	f.streamable.ServeHTTP(w, r)
}

// servePOST serves a POST of a stateful session: the fast path takes the
// calls it can, and the SDK the rest.
func (f *Front) servePOST(w http.ResponseWriter, r *http.Request, sid string) {
	d := f.downFor(sid)
	if d != nil {
		d.posting()
		defer d.posted()
	}
	limit := f.opts.MaxRequestBytes
	if limit <= 0 {
		limit = 4 << 20
	}
	body, err := readBody(r, limit)
	sdk := func() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.streamable.ServeHTTP(&dropCancelled{ResponseWriter: w, c: &f.cancels, sid: sid}, r)
	}
	if err != nil || int64(len(body)) > limit || d == nil {
		// The SDK answers what cannot be read.
		if err == nil {
			f.cancels.note(sid, body)
		}
		sdk()
		return
	}
	for _, id := range f.cancels.note(sid, body) {
		if d.cancelCall(id) {
			// The fast path drops its own answers to cancelled calls.
			f.cancels.take(sid, id)
		}
	}
	var env envelope
	ok := json.Valid(body)
	if ok {
		env, ok = parseEnvelope(body)
	}
	if !ok && bytes.Contains(body, []byte(askPrefix)) {
		// An agent's answer need not be written as the gateway would.
		if e, err := decodeEnvelope(body); err == nil && e.isResponse() {
			env, ok = e, true
		}
	}
	if ok && env.isResponse() && d.answer(env) {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if ok && !env.isResponse() && env.ID.IsValid() {
		if f.serveFast(w, r, d, &env) {
			return
		}
		// Calls the SDK serves are registered too, so that an ID in
		// flight on either path is refused on the other.
		if !d.startCall(env.ID, nil) {
			duplicateID(w, env.ID)
			return
		}
		defer d.endCall(env.ID)
	}
	sdk()
}

// readBody reads a request body of at most limit bytes, and one more if
// there is more.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	defer r.Body.Close()
	if n := r.ContentLength; n >= 0 && n <= limit {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return body, err
		}
		return body, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, limit+1))
}

// SSE returns the handler of the legacy HTTP+SSE transport. The message
// endpoint it announces is relative to the request path.
func (f *Front) SSE() http.Handler { return f.sse }

// ServeStdio serves one agent over t (such as [mcp.StdioTransport]) until
// either side closes the connection or ctx ends.
func (f *Front) ServeStdio(ctx context.Context, t mcp.Transport) error {
	ss, err := f.server.Connect(ctx, t, nil)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- ss.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = ss.Close()
		<-done
		return ctx.Err()
	}
}

// Close ends every session and the upstream connections, and waits for
// them.
func (f *Front) Close() {
	f.mu.Lock()
	f.shut = true
	links := make([]*link, 0, len(f.links))
	for ss, l := range f.links {
		links = append(links, l)
		_ = ss.Close()
	}
	for _, d := range f.downs {
		// Sessions refused an upstream have no link.
		_ = d.ss.Close()
	}
	f.mu.Unlock()
	// Upstream processes may each take a grace period to exit: end them
	// together.
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Go(l.close)
	}
	wg.Go(f.primary.close)
	wg.Wait()
	f.wg.Wait()
	if f.pool != nil {
		f.pool.close()
	}
}

func (f *Front) clientImpl(peer *mcp.InitializeParams) *mcp.Implementation {
	if peer != nil && peer.ClientInfo != nil {
		// The upstream sees the agent's own client, as it would directly.
		return peer.ClientInfo
	}
	return f.opts.Implementation
}

// attach gives a new downstream session its own upstream session.
// end is called when the session ends.
func (f *Front) attach(ctx context.Context, ss *mcp.ServerSession, s *Session, params *mcp.InitializeParams, end func()) (*link, error) {
	l := newLink(f, s, ss, params)
	if err := l.connect(ctx, false); err != nil {
		end()
		return nil, err
	}
	f.mu.Lock()
	if f.shut {
		f.mu.Unlock()
		l.close()
		end()
		return nil, errors.New("the gateway is shutting down")
	}
	f.links[ss] = l
	f.wg.Add(1)
	f.mu.Unlock()
	go func() {
		defer f.wg.Done()
		_ = ss.Wait()
		f.mu.Lock()
		delete(f.links, ss)
		f.mu.Unlock()
		f.cancels.forget(ss.ID())
		l.close()
		end()
	}()
	return l, nil
}

func (f *Front) linkFor(ss *mcp.ServerSession) *link {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.links[ss]; ok {
		return l
	}
	return f.primary
}

// receive is the server's receiving middleware: it forwards every request
// and notification from the agent to the upstream.
func (f *Front) receive(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
		defer func() {
			// A bug in one request's handling must not take down every
			// session of the gateway.
			if p := recover(); p != nil {
				f.logger.Error("panic serving a request", "method", method, "panic", p, "stack", string(debug.Stack()))
				res, err = nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "internal error in the gateway"}
			}
		}()
		ss, _ := req.GetSession().(*mcp.ServerSession)
		switch method {
		case "initialize":
			return f.initialize(ctx, ss, next, req)
		case "server/discover":
			return f.discover(ctx, next, req)
		case "notifications/initialized":
			res, err := next(ctx, method, req)
			if l := f.linkFor(ss); l != f.primary {
				l.downReady.Store(true)
			}
			return res, err
		case "ping", "notifications/cancelled",
			"subscriptions/listen", "resources/subscribe", "resources/unsubscribe":
			return next(ctx, method, req)
		}
		l := f.linkFor(ss)
		s := l.session
		if l == f.primary {
			// A request of the sessionless protocol introduces its client
			// itself.
			s = &Session{Server: f.spec.Name}
			if p := ss.InitializeParams(); p != nil {
				s.Client = p.ClientInfo
			}
			s.Auth = tokenInfo(ctx, req)
		}
		return l.forward(ctx, s, method, req, next)
	}
}

func (f *Front) initialize(ctx context.Context, ss *mcp.ServerSession, next mcp.MethodHandler, req mcp.Request) (mcp.Result, error) {
	res, err := next(ctx, "initialize", req)
	if err != nil {
		return nil, err
	}
	var d *down
	if ctx.Value(streamableKey{}) == f && ss.ID() != "" {
		var version, user string
		if ir, ok := res.(*mcp.InitializeResult); ok {
			version = ir.ProtocolVersion
		}
		if ti := tokenInfo(ctx, req); ti != nil {
			user = ti.UserID
		}
		d = f.track(ss, user, version)
	}
	params, _ := req.GetParams().(*mcp.InitializeParams)
	if params == nil {
		return res, nil
	}
	s := &Session{ID: ss.ID(), Server: f.spec.Name, Client: params.ClientInfo, Auth: tokenInfo(ctx, req)}
	if s.ID == "" {
		s.ID = "stdio"
	}
	end := func() {}
	if open := f.opts.OpenSession; open != nil {
		if end, err = open(s); err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: err.Error()}
		}
	}
	l, err := f.attach(ctx, ss, s, params, end)
	if err != nil {
		f.logger.Error("connecting upstream for a new session", "error", err)
		return nil, &jsonrpc.Error{
			Code:    jsonrpc.CodeInternalError,
			Message: fmt.Sprintf("%s is unavailable; retry in a few seconds", f.spec.describe()),
		}
	}
	if d != nil {
		d.link.Store(l)
	}
	ir := res.(*mcp.InitializeResult)
	l.mu.Lock()
	up := l.initRes
	l.mu.Unlock()
	out := *ir
	if up != nil {
		// The agent sees the upstream as it is: its capabilities, identity
		// and instructions. Only the protocol version is negotiated per side.
		out.Capabilities = up.Capabilities
		out.ServerInfo = up.ServerInfo
		out.Instructions = up.Instructions
		if out.Capabilities == nil {
			out.Capabilities = &mcp.ServerCapabilities{}
		}
	}
	return &out, nil
}

func (f *Front) discover(ctx context.Context, next mcp.MethodHandler, req mcp.Request) (mcp.Result, error) {
	res, err := next(ctx, "server/discover", req)
	if err != nil {
		return nil, err
	}
	dr, ok := res.(*mcp.DiscoverResult)
	if !ok {
		return res, nil
	}
	up := f.Upstream()
	if _, err := f.primary.client(); err != nil || up == nil {
		return nil, f.primary.unavailableError(err)
	}
	out := *dr
	out.Capabilities = up.Capabilities
	out.Instructions = up.Instructions
	if up.ServerInfo != nil {
		// The agent sees the upstream as it is (the SDK would name the
		// gateway).
		out.Meta = mcp.Meta{mcp.MetaKeyServerInfo: up.ServerInfo}
	}
	return &out, nil
}

func (f *Front) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	l := f.linkFor(req.Session)
	cs, err := l.client()
	if err != nil {
		return err
	}
	if err := cs.Subscribe(ctx, req.Params); err != nil {
		return upstreamError(err)
	}
	l.mu.Lock()
	l.subs[req.Params.URI] = true
	l.mu.Unlock()
	return nil
}

func (f *Front) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	l := f.linkFor(req.Session)
	cs, err := l.client()
	if err != nil {
		return err
	}
	l.mu.Lock()
	delete(l.subs, req.Params.URI)
	l.mu.Unlock()
	return upstreamError(cs.Unsubscribe(ctx, req.Params))
}

// stripProtocolMeta removes the sessionless revision's protocol version from
// a request's _meta: it belongs to one hop, and the gateway's upstream client
// states its own. The agent's client info, capabilities and log level stay:
// they tell the upstream whom it serves, and what it may ask of them.
func stripProtocolMeta(params mcp.Params) {
	if m := paramsMeta(params); m != nil {
		delete(m, mcp.MetaKeyProtocolVersion)
	}
}

// forward sends one downstream message upstream and returns the upstream's
// answer.
func (l *link) forward(ctx context.Context, s *Session, method string, req mcp.Request, next mcp.MethodHandler) (mcp.Result, error) {
	params := req.GetParams()
	var empty mcp.Result
	if method == "logging/setLevel" {
		// The SDK records the level for its own use as well, and its answer
		// is the empty result to return.
		var err error
		if empty, err = next(ctx, method, req); err != nil {
			return nil, err
		}
	}
	cs, err := l.client()
	if err != nil {
		if method == "tools/call" {
			return l.unavailableResult(params, err), nil
		}
		return nil, l.unavailableError(err)
	}
	stripProtocolMeta(params)
	if strings.HasPrefix(method, "notifications/") {
		if err := relayNotifyUp(ctx, cs, method, params); err != nil {
			l.logger.Debug("forwarding notification", "method", method, "error", err)
		}
		return nil, nil
	}
	ss, _ := req.GetSession().(*mcp.ServerSession)
	// begin replaces the agent's progress token with the link's own; the
	// call keeps the agent's, to report progress of its own.
	var agentToken any
	if m := paramsMeta(params); m != nil {
		agentToken = m["progressToken"]
	}
	end := l.begin(ctx, ss, method, params, nil)
	defer end()
	var res mcp.Result
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		return l.call(ctx, cs, s, p, req, agentToken)
	case *mcp.ListToolsParams:
		var r *mcp.ListToolsResult
		if r, err = cs.ListTools(ctx, p); err == nil {
			l.sawTools(r.Tools)
			if filter := l.front.opts.FilterTools; filter != nil {
				out := *r
				out.Tools = filter(ctx, s, r.Tools)
				if out.Tools == nil {
					out.Tools = []*mcp.Tool{}
				}
				r = &out
			}
			res = r
		}
	case *mcp.ListPromptsParams:
		res, err = cs.ListPrompts(ctx, p)
	case *mcp.GetPromptParams:
		var r *mcp.GetPromptResult
		if r, err = cs.GetPrompt(ctx, p); err == nil {
			res = completeFor(req, r)
		}
	case *mcp.ListResourcesParams:
		res, err = cs.ListResources(ctx, p)
	case *mcp.ListResourceTemplatesParams:
		res, err = cs.ListResourceTemplates(ctx, p)
	case *mcp.ReadResourceParams:
		var r *mcp.ReadResourceResult
		if r, err = cs.ReadResource(ctx, p); err == nil {
			res = completeFor(req, r)
		}
	case *mcp.CompleteParams:
		res, err = cs.Complete(ctx, p)
	case *mcp.SetLoggingLevelParams:
		if err = cs.SetLoggingLevel(ctx, p); err == nil {
			l.mu.Lock()
			l.logLevel = p.Level
			l.mu.Unlock()
			return empty, nil
		}
	default:
		return next(ctx, method, req)
	}
	if err != nil {
		return nil, l.fail(method, err)
	}
	return res, nil
}

// call serves a tools/call: the upstream must know the tool, the intercept
// decides, and what it lets through is forwarded.
func (l *link) call(ctx context.Context, cs *mcp.ClientSession, s *Session, p *mcp.CallToolParamsRaw, req mcp.Request, agentToken any) (mcp.Result, error) {
	tool, err := l.knowsTool(ctx, cs, p.Name)
	if err != nil {
		return nil, l.fail("tools/list", err)
	}
	if tool == nil {
		return nil, UnknownTool(p.Name)
	}
	c := &Call{Session: s, Params: p, Tool: tool, Extra: req.GetExtra(), Auth: tokenInfo(ctx, req), ss: serverSession(req), token: agentToken}
	if c.Auth == nil {
		c.Auth = s.Auth
	}
	h := func(ctx context.Context, c *Call) (*mcp.CallToolResult, error) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{
			Meta:           c.Params.Meta,
			Name:           c.Params.Name,
			Arguments:      c.Params.Arguments,
			InputResponses: c.Params.InputResponses,
			RequestState:   c.Params.RequestState,
		})
		if err == nil {
			return res, nil
		}
		var we *jsonrpc.Error
		if errors.As(err, &we) || ctx.Err() != nil {
			return nil, l.fail("tools/call", err)
		}
		// The upstream broke rather than answered: tell the agent in a
		// result it can act on.
		return l.unavailableResult(c.Params, err), nil
	}
	if ic := l.front.opts.Intercept; ic != nil {
		h = ic(h)
	}
	res, err := h(ctx, c)
	if err != nil {
		return nil, err
	}
	return completeFor(req, res), nil
}

// completeFor marks a result of a method that may ask for more input
// (tools/call, prompts/get, resources/read) as complete when the agent
// speaks the revision that requires the mark. The SDK sets the mark only
// in its own handlers, and exposes it only through JSON.
func completeFor[T any, P interface {
	*T
	mcp.Result
}](req mcp.Request, r P) P {
	ss, _ := req.GetSession().(*mcp.ServerSession)
	if r == nil || ss == nil {
		return r
	}
	if ip := ss.InitializeParams(); ip == nil || ip.ProtocolVersion < "2026-07-28" {
		return r
	}
	data, err := json.Marshal(r)
	if err != nil {
		return r
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return r
	}
	if _, ok := fields["resultType"]; ok {
		return r
	}
	fields["resultType"] = json.RawMessage(`"complete"`)
	if data, err = json.Marshal(fields); err != nil {
		return r
	}
	out := P(new(T))
	if err := json.Unmarshal(data, out); err != nil {
		return r
	}
	return out
}

// tokenInfo returns the token info that authenticated req: the SDK's
// request extra carries it for Streamable HTTP; the legacy SSE transport
// hands messages to the session's context, which is that of the request
// that opened the stream.
func tokenInfo(ctx context.Context, req mcp.Request) *auth.TokenInfo {
	if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
		return extra.TokenInfo
	}
	return auth.TokenInfoFromContext(ctx)
}

// UnknownTool is the error for a tools/call naming a tool the agent may not
// know of: one the upstream does not have, or one the policy hides. Both get
// the same answer, so a hidden tool's existence does not leak.
func UnknownTool(name string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", name)}
}

// fail turns an upstream error into the error the agent sees: the
// upstream's own JSON-RPC error unchanged, or a short description.
func (l *link) fail(method string, err error) error {
	if isUnavailable(err) {
		return l.unavailableError(err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		return we
	}
	l.logger.Warn("upstream request failed", "method", method, "error", err)
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("%s failed to answer %s", l.front.spec.describe(), method)}
}

func upstreamError(err error) error {
	if err == nil {
		return nil
	}
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		return we
	}
	return err
}

func isUnavailable(err error) bool {
	return errors.Is(err, errUnavailable) || errors.Is(err, mcp.ErrConnectionClosed)
}

func (l *link) unavailableError(err error) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: l.unavailableText()}
}

func (l *link) unavailableText() string {
	return fmt.Sprintf("%s is unavailable and is being restarted; retry in a few seconds", l.front.spec.describe())
}

// unavailableResult is the tool result for a call that could not reach the
// upstream: an error the agent can act on, not a protocol failure.
func (l *link) unavailableResult(params mcp.Params, err error) *mcp.CallToolResult {
	name := ""
	if p, ok := params.(*mcp.CallToolParamsRaw); ok {
		name = p.Name
	}
	l.logger.Warn("call failed: upstream unavailable", "tool", name, "error", err)
	return &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%s: %s", name, l.unavailableText())}},
	}
}
