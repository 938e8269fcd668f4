package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The fast path relays the gateway's hot request, a tools/call from a
// stateful Streamable HTTP session to an upstream reached over Streamable
// HTTP, without the SDK. Through the SDK a call is decoded and encoded on
// both sides, each decoding allocating a 32 KiB buffer, and that costs more
// than everything else a call does. The fast path reads the request's
// envelope once, exactly (envelope.go), gives the call to the intercept as
// any call, posts it into the agent's upstream session itself, and passes
// the upstream's result back byte for byte: it is decoded once, for the
// intercept, and encoded never.
//
// It keeps every rule the SDK's path keeps: the same checks of the HTTP
// request (the SDK's answer to a failed one is the SDK's to give, so such
// requests take its path), the same intercept, the same upstream errors,
// progress under the agent's token and in order with the result,
// cancellation both ways, and the upstream's requests of the agent
// (elicitation, sampling, roots) relayed on the call's stream. Whatever it
// does not recognise exactly goes the SDK's way.

// askPrefix begins the IDs of the gateway's own requests to an agent; the
// SDK numbers its requests, so they cannot collide.
const askPrefix = "tg-ask-"

// serveFast serves a tools/call the fast path can take, reporting whether it
// took it. Nothing has been written or sent when it reports false.
func (f *Front) serveFast(w http.ResponseWriter, r *http.Request, d *down, env *envelope) bool {
	l := d.link.Load()
	if l == nil || env.Method != "tools/call" || !env.ID.IsValid() || !fastRequest(r, d) || d.ss.InitializeParams() == nil {
		return false
	}
	p, ok := parseCallParams(env.Params)
	if !ok {
		return false
	}
	cs, up := l.fastUpstream()
	if up == nil {
		return false
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	if !d.startCall(env.ID, cancel) {
		duplicateID(w, env.ID)
		return true
	}
	defer d.endCall(env.ID)
	f.fastCalls.Add(1)
	// The call lives as long as the agent's session, not as long as its
	// HTTP request: a dropped connection is not a cancellation.
	stop := context.AfterFunc(l.ctx, cancel)
	defer stop()

	fc := &fastCall{front: f, d: d, l: l, up: up, id: env.ID, rawID: env.RawID, token: p.Meta["progressToken"], w: w}
	end := l.begin(ctx, d.ss, "tools/call", p, fc)
	res, raw, err := fc.serve(ctx, r, cs, p)
	if ctx.Err() == nil {
		fc.reply(res, raw, err)
	}
	cancel()
	fc.asks.Wait()
	end()
	fc.close()
	if fc.broken {
		// The SDK's client would have given up on the session; so does the
		// gateway, and the link reconnects.
		_ = cs.Close()
	}
	return true
}

// fastRequest reports whether the HTTP request passes every check the SDK's
// handler would make of it, so that the SDK would serve it.
func fastRequest(r *http.Request, d *down) bool {
	h := r.Header
	if !strings.EqualFold(mediaType(h.Get("Content-Type")), "application/json") {
		return false
	}
	if jsonOK, streamOK := accepts(h.Values("Accept")); !jsonOK || !streamOK {
		return false
	}
	if v := h.Get("Mcp-Protocol-Version"); v == "" || v != d.version || v >= "2026-07-28" {
		return false
	}
	if len(h.Values("Last-Event-Id")) > 0 {
		return false
	}
	// Protection against DNS rebinding: a gateway listening on loopback
	// answers only requests addressed to loopback.
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && la != nil && loopback(la.String()) && !loopback(r.Host) {
		return false
	}
	// A session belongs to the user who began it.
	if d.user != "" {
		if ti := auth.TokenInfoFromContext(r.Context()); ti == nil || ti.UserID != d.user {
			return false
		}
	}
	return true
}

func mediaType(v string) string {
	v, _, _ = strings.Cut(v, ";")
	return strings.TrimSpace(v)
}

// accepts reports whether Accept header values admit JSON and event streams.
func accepts(values []string) (jsonOK, streamOK bool) {
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			switch strings.ToLower(mediaType(item)) {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				streamOK = true
			case "*/*":
				jsonOK, streamOK = true, true
			}
		}
	}
	return jsonOK, streamOK
}

// loopback reports whether a host or host:port names the loopback
// interface.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// parseCallParams reads the params of a tools/call the fast path can take:
// a name, arguments and _meta, and nothing else; no _meta key of the
// protocol's own but the progress token.
func parseCallParams(raw []byte) (*mcp.CallToolParamsRaw, bool) {
	var buf [maxMembers]member
	ms, ok := objectMembers(buf[:0], raw)
	if !ok {
		return nil, false
	}
	p := new(mcp.CallToolParamsRaw)
	for _, m := range ms {
		switch string(m.key) {
		case "name":
			if p.Name, ok = plainString(m.value); !ok {
				return nil, false
			}
		case "arguments":
			p.Arguments = json.RawMessage(m.value)
		case "_meta":
			if err := json.Unmarshal(m.value, &p.Meta); err != nil || p.Meta == nil {
				return nil, false
			}
			for k := range p.Meta {
				if strings.HasPrefix(k, "io.modelcontextprotocol/") {
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	return p, p.Name != ""
}

// duplicateID answers a call whose ID the session has in flight, as the
// SDK answers it.
func duplicateID(w http.ResponseWriter, id jsonrpc.ID) {
	data, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{
		Code:    jsonrpc.CodeInvalidRequest,
		Message: fmt.Sprintf("duplicate in-flight request ID %v", id.Raw()),
	}})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(data)
}

// A fastCall is one tools/call on the fast path: the response it writes to
// the agent, and what the upstream sends on the call's stream.
type fastCall struct {
	front *Front
	d     *down
	l     *link
	up    *upstreamHTTP
	id    jsonrpc.ID
	rawID []byte // the agent's ID as it wrote it
	token any    // the agent's progress token, if any
	w     http.ResponseWriter

	broken bool // the upstream session failed as the SDK's client would not go on from

	mu    sync.Mutex
	state streamState // guarded by mu
	rc    *http.ResponseController

	asks   sync.WaitGroup                    // the upstream's requests being relayed to the agent
	askMu  sync.Mutex                        // guards upAsks
	upAsks map[jsonrpc.ID]context.CancelFunc // the upstream's requests in flight, by its IDs
}

type streamState int

const (
	fresh     streamState = iota // nothing written
	streaming                    // an event stream is under way
	closed                       // the response is over
)

var errClosedStream = errors.New("the call's response is over")

// serve runs the call through the intercept to the upstream. It returns
// the result to send, and the upstream's encoding of it when that is the
// result.
func (fc *fastCall) serve(ctx context.Context, r *http.Request, cs *mcp.ClientSession, p *mcp.CallToolParamsRaw) (res *mcp.CallToolResult, raw []byte, err error) {
	l := fc.l
	defer func() {
		// A bug in one call's handling must not take down every session of
		// the gateway.
		if v := recover(); v != nil {
			l.logger.Error("panic serving a request", "method", "tools/call", "panic", v, "stack", string(debug.Stack()))
			res, raw, err = nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "internal error in the gateway"}
		}
	}()
	tool, err := l.knowsTool(ctx, cs, p.Name)
	if err != nil {
		return nil, nil, l.fail("tools/list", err)
	}
	if tool == nil {
		return nil, nil, UnknownTool(p.Name)
	}
	ti := auth.TokenInfoFromContext(r.Context())
	c := &Call{Session: l.session, Params: p, Tool: tool, Extra: &mcp.RequestExtra{TokenInfo: ti, Header: r.Header}, Auth: ti, ss: fc.d.ss, fast: fc}
	if c.Auth == nil {
		c.Auth = l.session.Auth
	}
	var forwarded *mcp.CallToolResult
	h := func(ctx context.Context, c *Call) (*mcp.CallToolResult, error) {
		res, body, err := fc.forward(ctx, cs, c.Params)
		if err == nil {
			forwarded, raw = res, body
			return res, nil
		}
		var we *jsonrpc.Error
		if errors.As(err, &we) || ctx.Err() != nil {
			return nil, l.fail("tools/call", err)
		}
		if errors.Is(err, errBroken) {
			fc.broken = true
		}
		// The upstream broke rather than answered: tell the agent in a
		// result it can act on.
		return l.unavailableResult(c.Params, err), nil
	}
	if ic := l.front.opts.Intercept; ic != nil {
		h = ic(h)
	}
	res, err = h(ctx, c)
	if err != nil || res == nil || res != forwarded {
		raw = nil
	}
	return res, raw, err
}

// forward sends the call into the upstream session and waits for its
// answer: the result decoded and as the upstream encoded it, or an error.
func (fc *fastCall) forward(ctx context.Context, cs *mcp.ClientSession, p *mcp.CallToolParamsRaw) (*mcp.CallToolResult, []byte, error) {
	upID := fc.up.nextID()
	body, err := encodeCall(upID, p)
	if err != nil {
		return nil, nil, err
	}
	id, _ := jsonrpc.MakeID(upID)
	env, err := fc.exchange(ctx, id, body)
	if err != nil {
		if ctx.Err() != nil {
			fc.cancelUpstream(cs, upID)
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	if env.Error != nil {
		we, err := wireError(env.Error)
		if err != nil {
			return nil, nil, err
		}
		return nil, nil, we
	}
	res, err := decodeToolResult(env.Result)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the result: %w", err)
	}
	return res, env.Result, nil
}

// encodeCall encodes a tools/call with the given ID and params.
func encodeCall(id string, p *mcp.CallToolParamsRaw) ([]byte, error) {
	var params []byte
	if p.InputResponses != nil || p.RequestState != "" || (p.Arguments != nil && !json.Valid(p.Arguments)) {
		// Fields the fast path never reads, set by an intercept: the SDK's
		// encoding, which also reports invalid arguments.
		var err error
		if params, err = json.Marshal(&mcp.CallToolParams{Meta: p.Meta, Name: p.Name, Arguments: p.Arguments, InputResponses: p.InputResponses, RequestState: p.RequestState}); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 80+len(p.Name)+len(p.Arguments)+len(params))
	b = append(b, `{"jsonrpc":"2.0","id":"`...)
	b = append(b, id...)
	b = append(b, `","method":"tools/call","params":`...)
	if params != nil {
		return append(append(b, params...), '}'), nil
	}
	b = append(b, '{')
	if len(p.Meta) > 0 {
		meta, err := json.Marshal(p.Meta)
		if err != nil {
			return nil, err
		}
		b = append(b, `"_meta":`...)
		b = append(b, meta...)
		b = append(b, ',')
	}
	b = append(b, `"name":`...)
	b = appendJSONString(b, p.Name)
	if p.Arguments != nil {
		b = append(b, `,"arguments":`...)
		b = append(b, p.Arguments...)
	}
	return append(b, "}}"...), nil
}

// exchange posts a request upstream and returns the upstream's response to
// it, relaying whatever else the upstream sends on the request's stream.
func (fc *fastCall) exchange(ctx context.Context, id jsonrpc.ID, body []byte) (envelope, error) {
	resp, err := fc.up.post(ctx, body)
	if err != nil {
		return envelope{}, err
	}
	if err := checkStatus(resp); err != nil {
		_ = resp.Body.Close()
		return envelope{}, err
	}
	switch ct := mediaType(resp.Header.Get("Content-Type")); {
	case strings.EqualFold(ct, "application/json"):
		return readAnswer(resp, id)
	case strings.EqualFold(ct, "text/event-stream"):
		return fc.stream(ctx, resp, id)
	default:
		_ = resp.Body.Close()
		return envelope{}, fmt.Errorf("%w: unsupported content type %q", errBroken, ct)
	}
}

// readAnswer reads a response sent as a JSON body.
func readAnswer(resp *http.Response, id jsonrpc.ID) (envelope, error) {
	defer resp.Body.Close()
	var data []byte
	if n := resp.ContentLength; n > 0 && n < 64<<20 {
		data = make([]byte, n)
		if _, err := io.ReadFull(resp.Body, data); err != nil {
			return envelope{}, fmt.Errorf("%w: reading the response: %v", errBroken, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
	} else {
		var err error
		if data, err = io.ReadAll(resp.Body); err != nil {
			return envelope{}, fmt.Errorf("%w: reading the response: %v", errBroken, err)
		}
	}
	env, err := decodeEnvelope(data)
	if err != nil {
		return envelope{}, fmt.Errorf("%w: %v", errBroken, err)
	}
	if !env.isResponse() || env.ID != id {
		return envelope{}, fmt.Errorf("upstream answered with another message than the response to %v", id.Raw())
	}
	return env, nil
}

// maxResumes bounds how often a call's stream is reopened without new
// events, as the SDK's client is configured (upstream.go).
const maxResumes = 2

// stream reads a response's event stream until the response to id, and
// reopens it if the upstream ends it early with events that can be
// resumed.
func (fc *fastCall) stream(ctx context.Context, resp *http.Response, id jsonrpc.ID) (envelope, error) {
	var ev sseEvent
	var lastID, prevID, retry string
	attempts := 0
	for {
		env, ok, err := fc.readStream(ctx, resp, id, &ev, &lastID, &retry)
		if ok || err != nil {
			return env, err
		}
		if ctx.Err() != nil {
			return envelope{}, ctx.Err()
		}
		if lastID == "" {
			return envelope{}, errors.New("upstream ended the call's stream without a response")
		}
		if lastID != prevID {
			prevID, attempts = lastID, 0
		}
		if attempts++; attempts > maxResumes {
			return envelope{}, fmt.Errorf("%w: the call's stream ended %d times without progress", errBroken, attempts)
		}
		t := time.NewTimer(resumeDelay(retry, attempts))
		select {
		case <-ctx.Done():
			t.Stop()
			return envelope{}, ctx.Err()
		case <-t.C:
		}
		if resp, err = fc.up.resume(ctx, lastID); err != nil {
			return envelope{}, fmt.Errorf("%w: resuming the call's stream: %v", errBroken, err)
		}
		if resp.StatusCode/100 != 2 {
			_ = resp.Body.Close()
			return envelope{}, fmt.Errorf("%w: resuming the call's stream: upstream answered %s", errBroken, resp.Status)
		}
	}
}

// readStream reads events from one response body. ok reports that the
// response to id came; with neither it nor an error, the stream ended.
func (fc *fastCall) readStream(ctx context.Context, resp *http.Response, id jsonrpc.ID, ev *sseEvent, lastID, retry *string) (env envelope, ok bool, err error) {
	sr := newSSEReader(resp.Body)
	defer func() {
		sr.release()
		closeStream(resp.Body)
	}()
	for {
		err := sr.next(ev)
		if err == io.EOF {
			return envelope{}, false, nil
		}
		if err != nil {
			if errors.Is(err, errBroken) {
				return envelope{}, false, err
			}
			// The connection broke: resume if possible.
			return envelope{}, false, nil
		}
		if ev.id != "" {
			*lastID = ev.id
		}
		if ev.retry != "" {
			*retry = ev.retry
		}
		if ev.data.Len() == 0 || (ev.name != "" && ev.name != "message") {
			continue
		}
		msg, err := decodeEnvelope(ev.data.Bytes())
		if err != nil {
			return envelope{}, false, fmt.Errorf("%w: %v", errBroken, err)
		}
		if msg.isResponse() {
			if msg.ID == id {
				return msg, true, nil
			}
			continue
		}
		fc.fromUpstream(ctx, msg)
	}
}

// closeStream closes a response body, reading what is left of it first so
// that the connection can serve another request; an upstream that keeps
// the stream open gets a second to end it.
func closeStream(body io.ReadCloser) {
	if pb, ok := body.(*pooledBody); ok {
		_ = pb.c.conn.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, body)
		_ = body.Close()
		return
	}
	t := time.AfterFunc(time.Second, func() { _ = body.Close() })
	_, _ = io.Copy(io.Discard, body)
	t.Stop()
	_ = body.Close()
}

// fromUpstream handles a request or notification the upstream sent on the
// call's stream. What it keeps of msg it copies: msg's bytes are reused.
func (fc *fastCall) fromUpstream(ctx context.Context, msg envelope) {
	l := fc.l
	if msg.ID.IsValid() {
		switch msg.Method {
		case "ping":
			fc.answerUpstream(ctx, msg.RawID, []byte("{}"), nil)
		case "elicitation/create", "sampling/createMessage", "roots/list":
			method, params, rawID, id := msg.Method, bytes.Clone(msg.Params), bytes.Clone(msg.RawID), msg.ID
			actx, cancel := context.WithCancel(ctx)
			fc.askMu.Lock()
			if fc.upAsks == nil {
				fc.upAsks = make(map[jsonrpc.ID]context.CancelFunc)
			}
			fc.upAsks[id] = cancel
			fc.askMu.Unlock()
			fc.asks.Go(func() {
				defer func() {
					fc.askMu.Lock()
					delete(fc.upAsks, id)
					fc.askMu.Unlock()
					cancel()
				}()
				result, errRaw, err := fc.ask(actx, method, params)
				if actx.Err() != nil {
					// Cancelled by the upstream, or the call is over.
					return
				}
				if err != nil {
					errRaw, _ = json.Marshal(&jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()})
				}
				fc.answerUpstream(ctx, rawID, result, errRaw)
			})
		default:
			errRaw, _ := json.Marshal(&jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("method not found: %q", msg.Method)})
			fc.answerUpstream(ctx, msg.RawID, nil, errRaw)
		}
		return
	}
	switch msg.Method {
	case "notifications/progress":
		var p mcp.ProgressNotificationParams
		if err := json.Unmarshal(msg.Params, &p); err == nil {
			l.progress(&p)
		}
	case "notifications/message", "notifications/elicitation/complete":
		if err := fc.notifyRaw(msg.Method, msg.Params); err != nil {
			l.logger.Debug("forwarding notification", "method", msg.Method, "error", err)
		}
	case "notifications/cancelled":
		var p struct {
			RequestID any `json:"requestId"`
		}
		if json.Unmarshal(msg.Params, &p) != nil {
			return
		}
		if id, err := jsonrpc.MakeID(p.RequestID); err == nil {
			fc.askMu.Lock()
			cancel := fc.upAsks[id]
			fc.askMu.Unlock()
			if cancel != nil {
				cancel()
			}
		}
	default:
		l.notified(msg.Method, msg.Params)
	}
}

// answerUpstream posts the answer to one of the upstream's requests.
func (fc *fastCall) answerUpstream(ctx context.Context, rawID, result, errRaw []byte) {
	b := make([]byte, 0, 48+len(rawID)+len(result)+len(errRaw))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, rawID...)
	if errRaw != nil {
		b = append(b, `,"error":`...)
		b = append(b, errRaw...)
	} else {
		b = append(b, `,"result":`...)
		b = append(b, result...)
	}
	b = append(b, '}')
	if err := fc.up.send(ctx, b); err != nil {
		fc.l.logger.Debug("answering the upstream", "error", err)
	}
}

// ask relays a request of the upstream to the agent on the call's stream,
// and waits for the agent's answer.
func (fc *fastCall) ask(ctx context.Context, method string, params []byte) (result, errRaw []byte, err error) {
	idText := askPrefix + strconv.FormatUint(fc.front.askIDs.Add(1), 10)
	id, _ := jsonrpc.MakeID(idText)
	answer, done := fc.d.await(id)
	defer done()
	b := make([]byte, 0, 64+len(method)+len(params))
	b = append(b, `{"jsonrpc":"2.0","id":"`...)
	b = append(b, idText...)
	b = append(b, `","method":`...)
	b = appendJSONString(b, method)
	if len(params) > 0 && string(params) != "null" {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	b = append(b, '}')
	if err := fc.event(b); err != nil {
		return nil, nil, err
	}
	select {
	case env := <-answer:
		return env.Result, env.Error, nil
	case <-ctx.Done():
		// Tell the agent, as the SDK does for its own requests.
		_ = fc.notify("notifications/cancelled", &mcp.CancelledParams{RequestID: idText, Reason: "cancelled by the server"})
		return nil, nil, ctx.Err()
	}
}

// elicit asks the agent's user for input on the call's stream.
func (fc *fastCall) elicit(ctx context.Context, p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	params, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	result, errRaw, err := fc.ask(ctx, "elicitation/create", params)
	if err != nil {
		return nil, err
	}
	if errRaw != nil {
		we, err := wireError(errRaw)
		if err != nil {
			return nil, err
		}
		return nil, we
	}
	// Read exactly, as the SDK reads it: keys are case-sensitive.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(result, &fields); err != nil {
		return nil, fmt.Errorf("reading the elicitation result: %w", err)
	}
	res := new(mcp.ElicitResult)
	for k, v := range fields {
		switch k {
		case "action":
			err = json.Unmarshal(v, &res.Action)
		case "content":
			err = json.Unmarshal(v, &res.Content)
		case "_meta":
			err = json.Unmarshal(v, &res.Meta)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the elicitation result: %w", err)
		}
	}
	return res, nil
}

// cancelUpstream tells the upstream that the call was cancelled, as the
// SDK's client does.
func (fc *fastCall) cancelUpstream(cs *mcp.ClientSession, upID string) {
	if fc.l.ctx.Err() != nil {
		return // the session ends, and the call with it
	}
	ctx, cancel := context.WithTimeout(fc.l.ctx, 5*time.Second)
	defer cancel()
	if err := relayNotifyUp(ctx, cs, "notifications/cancelled", &mcp.CancelledParams{RequestID: upID, Reason: context.Canceled.Error()}); err != nil {
		fc.l.logger.Debug("forwarding cancellation", "error", err)
	}
}

// notify sends a notification to the agent on the call's stream.
func (fc *fastCall) notify(method string, params any) error {
	data, err := json.Marshal(params)
	if err != nil {
		return err
	}
	return fc.notifyRaw(method, data)
}

func (fc *fastCall) notifyRaw(method string, params []byte) error {
	b := make([]byte, 0, 48+len(method)+len(params))
	b = append(b, `{"jsonrpc":"2.0","method":`...)
	b = appendJSONString(b, method)
	if len(params) > 0 {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return fc.event(append(b, '}'))
}

// event writes a message to the agent as a server-sent event, beginning the
// event stream if need be.
func (fc *fastCall) event(data []byte) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.state == closed {
		return errClosedStream
	}
	return fc.writeEvent(data)
}

func (fc *fastCall) writeEvent(data []byte) error {
	if fc.state == fresh {
		h := fc.w.Header()
		h.Set("Cache-Control", "no-cache, no-transform")
		h.Set("Content-Type", "text/event-stream")
		h.Set("Connection", "keep-alive")
		fc.w.WriteHeader(http.StatusOK)
		fc.rc = http.NewResponseController(fc.w)
		fc.state = streaming
	}
	if _, err := io.WriteString(fc.w, "event: message\ndata: "); err != nil {
		return err
	}
	if _, err := fc.w.Write(data); err != nil {
		return err
	}
	if _, err := io.WriteString(fc.w, "\n\n"); err != nil {
		return err
	}
	_ = fc.rc.Flush()
	return nil
}

// reply writes the call's response and ends the response: a JSON body when
// nothing was streamed before it, the stream's last event otherwise.
func (fc *fastCall) reply(res *mcp.CallToolResult, raw []byte, err error) {
	var data []byte
	switch {
	case raw != nil:
		data = make([]byte, 0, 32+len(fc.rawID)+len(raw))
		data = append(data, `{"jsonrpc":"2.0","id":`...)
		data = append(data, fc.rawID...)
		data = append(data, `,"result":`...)
		data = append(data, raw...)
		data = append(data, '}')
	case err == nil && res == nil:
		err = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "internal error in the gateway: no result"}
		fallthrough
	case err != nil:
		data, err = jsonrpc.EncodeMessage(&jsonrpc.Response{ID: fc.id, Error: err})
	default:
		var result []byte
		if result, err = marshalResult(res); err == nil {
			data, err = jsonrpc.EncodeMessage(&jsonrpc.Response{ID: fc.id, Result: result})
		}
	}
	if err != nil {
		fc.l.logger.Error("encoding a response", "error", err)
		return
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	switch fc.state {
	case fresh:
		h := fc.w.Header()
		h.Set("Cache-Control", "no-cache, no-transform")
		h.Set("Content-Type", "application/json")
		_, _ = fc.w.Write(data)
		if fc.broken {
			_ = http.NewResponseController(fc.w).Flush()
		}
	case streaming:
		_ = fc.writeEvent(data)
	}
	fc.state = closed
}

// close ends the response; a call cancelled before anything was written
// gets an empty event stream, as the SDK's path gives it.
func (fc *fastCall) close() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.state == fresh {
		h := fc.w.Header()
		h.Set("Cache-Control", "no-cache, no-transform")
		h.Set("Content-Type", "text/event-stream")
		fc.w.WriteHeader(http.StatusOK)
	}
	fc.state = closed
}

// marshalResult encodes a result as the SDK encodes results: without
// escaping HTML.
func marshalResult(res *mcp.CallToolResult) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
