package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults for the zero fields of [Options].
const (
	DefaultSessions    = 8
	DefaultDuration    = 10 * time.Second
	DefaultCallTimeout = 30 * time.Second
	// DefaultProtocolVersion is the revision most agents speak today.
	DefaultProtocolVersion = "2025-11-25"
)

// Options configures a run. Apart from URL, which is required, every field
// may be left zero: the zero Options (with a URL) is a 10-second run of 8
// sessions calling [EchoTool].
type Options struct {
	// URL is the Streamable HTTP endpoint, such as
	// http://127.0.0.1:8080/mcp/bench.
	URL string

	// Replicas, when set, spreads the sessions over these endpoints (one
	// upstream behind several gateway replicas): session i uses
	// Replicas[i % len(Replicas)] instead of URL, as a load balancer that
	// keeps each session on one replica would.
	Replicas []string

	// Header is added to every HTTP request the sessions make (POST, the
	// standalone SSE GET and the closing DELETE), replacing any value the
	// SDK set; typically Authorization.
	Header http.Header

	// Sessions is the number of concurrent MCP sessions. Each makes one call
	// at a time, so it is also the number of calls in flight. Zero means
	// DefaultSessions.
	Sessions int

	// Duration and Calls bound the measured phase, by time and by the number
	// of calls made across all sessions. The run ends at whichever bound it
	// reaches first; if both are zero, Duration is DefaultDuration. Calls
	// under way when Duration runs out are waited for and counted.
	Duration time.Duration
	Calls    int

	// Warmup is how long the sessions call before the measured phase starts,
	// once every session is initialized. Warmup calls are not counted.
	Warmup time.Duration

	// Tool is the tool to call. Empty means EchoTool.
	Tool string

	// Args are the arguments of every call. Nil means {"text": "hello"} when
	// Tool is EchoTool and no arguments otherwise.
	Args map[string]any

	// CallTimeout is how long one call may go unanswered before its session
	// counts it as an error and stops, so a stalled endpoint cannot hold the
	// run open. Zero means DefaultCallTimeout. Initializing a session may
	// take CallTimeout or DefaultCallTimeout, whichever is longer.
	CallTimeout time.Duration

	// ProtocolVersion is the protocol revision the sessions offer. Empty
	// means DefaultProtocolVersion: the same stateful revision on both runs
	// of a comparison, whatever each endpoint would otherwise negotiate.
	ProtocolVersion string

	// HTTPClient carries the sessions' requests. Nil means a client of Run's
	// own, which keeps enough idle connections that no call waits for a new
	// one. A client passed here must not set Timeout, since each session's
	// standalone SSE stream stays open for the whole run, and its transport
	// should keep at least 2×Sessions idle connections per host; otherwise
	// connections are redialed during the run and the figures include the
	// dialing.
	HTTPClient *http.Client
}

// A Result is what one run measured.
//
// Calls counts the tools/call requests made in the measured phase, and
// Errors those of them that failed: a transport or protocol error, a result
// with isError set, or no answer within the call timeout. A session lost
// during the warmup counts as one failed call. Throughput and the latencies cover
// only the successful calls, so that an endpoint that fails fast does not
// look fast. Latencies are exact below 256 ns and otherwise rounded up by
// less than 0.8%, never past Max.
//
// Durations are encoded in JSON as integer nanoseconds.
type Result struct {
	// Sessions is the number of sessions the run opened.
	Sessions int `json:"sessions"`

	// Calls and Errors count the calls made and the calls that failed.
	Calls  int `json:"calls"`
	Errors int `json:"errors"`

	// Elapsed runs from the end of the warmup to the last answer.
	Elapsed time.Duration `json:"elapsed_ns"`

	// Throughput is the number of successful calls per second of Elapsed.
	Throughput float64 `json:"calls_per_sec"`

	// P50, P90 and P99 are percentiles of the successful calls' latency,
	// and Max the largest. They are zero if no call succeeded.
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`

	// FirstError is the text of the earliest failure, if any.
	FirstError string `json:"first_error,omitempty"`
}

// Run opens opts.Sessions MCP sessions to opts.URL, each a go-sdk client
// that initializes once and then calls opts.Tool in a loop, and measures the
// calls until the run reaches its bound. The sessions are closed before Run
// returns; initialization and closing are not measured.
//
// A session that fails a call with a transport error, or gets no answer
// within opts.CallTimeout, stops; the others go on. Closing such a session
// can take a few seconds, as the SDK waits up to 5s for the upstream to
// acknowledge the session's end.
//
// Run returns an error, and no Result, if opts is invalid or any session
// fails to initialize. If ctx ends first, Run stops early and returns what
// it measured so far together with an error wrapping ctx.Err(). Failed calls
// are not errors of Run: they are counted in the Result.
//
// Concurrent runs are independent; opts must not be modified while Run is
// using it.
func Run(ctx context.Context, opts Options) (*Result, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	args, err := json.Marshal(o.Args)
	if err != nil {
		return nil, fmt.Errorf("load: encode arguments of %s: %w", o.Tool, err)
	}
	httpClient, closeIdle := o.httpClient()
	defer closeIdle()

	sessions, err := connect(ctx, &o, httpClient, args)
	if err != nil {
		return nil, err
	}
	defer closeAll(sessions)

	p := &plan{measureFrom: time.Now().Add(o.Warmup), calls: int64(o.Calls)}
	if o.Duration > 0 {
		p.end = p.measureFrom.Add(o.Duration)
	}
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { s.loop(ctx, p) })
	}
	wg.Wait()

	res := tally(sessions, p.measureFrom)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("load: run against %s stopped early: %w", o.URL, err)
	}
	return res, nil
}

// normalize validates o and fills in its defaults.
func (o Options) normalize() (Options, error) {
	var problems []error
	if len(o.Replicas) > 0 && o.URL == "" {
		o.URL = o.Replicas[0]
	}
	for _, raw := range append([]string{o.URL}, o.Replicas...) {
		if u, err := url.Parse(raw); err != nil {
			problems = append(problems, fmt.Errorf("URL: %w", err))
		} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Errorf("URL %q: want an http or https URL", raw))
		}
	}
	for _, f := range []struct {
		name  string
		value int64
	}{
		{"Sessions", int64(o.Sessions)},
		{"Duration", int64(o.Duration)},
		{"Calls", int64(o.Calls)},
		{"Warmup", int64(o.Warmup)},
		{"CallTimeout", int64(o.CallTimeout)},
	} {
		if f.value < 0 {
			problems = append(problems, fmt.Errorf("%s is negative", f.name))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return o, fmt.Errorf("load: invalid options: %w", err)
	}

	if o.Sessions == 0 {
		o.Sessions = DefaultSessions
	}
	if o.Duration == 0 && o.Calls == 0 {
		o.Duration = DefaultDuration
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Tool == "" {
		o.Tool = EchoTool
	}
	if o.ProtocolVersion == "" {
		o.ProtocolVersion = DefaultProtocolVersion
	}
	if o.Args == nil {
		o.Args = map[string]any{}
		if o.Tool == EchoTool {
			o.Args["text"] = "hello"
		}
	}
	return o, nil
}

// httpClient returns the client the sessions share and a function that
// releases what it holds once the run is over.
func (o *Options) httpClient() (*http.Client, func()) {
	var c http.Client
	var own *http.Transport
	if o.HTTPClient != nil {
		c = *o.HTTPClient
	} else {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			own = t.Clone()
		} else {
			own = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
		}
		// A session holds a POST in flight and its standalone SSE stream; the
		// default of 2 idle connections per host would redial on most calls.
		own.MaxIdleConns = 0
		own.MaxIdleConnsPerHost = 2*o.Sessions + 2
		c.Transport = own
	}
	if len(o.Header) > 0 {
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		h := make(http.Header, len(o.Header))
		for k, v := range o.Header {
			h[http.CanonicalHeaderKey(k)] = slices.Clone(v)
		}
		c.Transport = &headerTransport{base: base, header: h}
	}
	return &c, func() {
		if own != nil {
			own.CloseIdleConnections()
		}
	}
}

// headerTransport sets fixed headers on every request.
type headerTransport struct {
	base   http.RoundTripper
	header http.Header // canonical keys; read-only
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not modify the request it is given.
	r := req.Clone(req.Context())
	for k, v := range t.header {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

// connect initializes every session, concurrently. If any fails, it closes
// the others and returns the first failure.
func connect(ctx context.Context, o *Options, httpClient *http.Client, args []byte) ([]*session, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "toolgate-load", Version: "1.0.0"}, nil)
	sessions := make([]*session, o.Sessions)
	errs := make([]error, o.Sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			// Initializing takes several requests, and a short CallTimeout
			// is meant for the calls being measured, not for them.
			cctx, cancel := context.WithTimeout(ctx, max(o.CallTimeout, DefaultCallTimeout))
			defer cancel()
			endpoint := o.URL
			if len(o.Replicas) > 0 {
				endpoint = o.Replicas[i%len(o.Replicas)]
			}
			t := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: httpClient}
			cs, err := client.Connect(cctx, t, &mcp.ClientSessionOptions{ProtocolVersion: o.ProtocolVersion})
			if err != nil {
				errs[i] = fmt.Errorf("load: initialize session %d of %d with %s: %w", i+1, o.Sessions, endpoint, err)
				return
			}
			sessions[i] = newSession(ctx, cs, o.Tool, args, o.CallTimeout)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			closeAll(slices.DeleteFunc(sessions, func(s *session) bool { return s == nil }))
			return nil, err
		}
	}
	return sessions, nil
}

// closeAll ends the sessions, concurrently. Errors are dropped: the
// measurement is over, and a failed DELETE does not change it.
func closeAll(sessions []*session) {
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(s.close)
	}
	wg.Wait()
}

// plan is what the sessions share while they run. It is not modified once
// they start, apart from tickets.
type plan struct {
	measureFrom time.Time    // end of the warmup
	end         time.Time    // no call starts after it; zero if the run is bounded by Calls only
	calls       int64        // the number of measured calls, if nonzero
	tickets     atomic.Int64 // measured calls started or about to start, when calls is set
}

// A session is one MCP client session and what it measured. It is used by one
// goroutine at a time: its loop, then Run.
type session struct {
	cs      *mcp.ClientSession
	params  *mcp.CallToolParams
	ctx     context.Context // the calls' context, cancelled by timer
	cancel  context.CancelFunc
	timer   *time.Timer // armed for each call; firing gives up on the call
	timeout time.Duration

	hist       hist
	calls      int
	errors     int
	lastDone   time.Time // when the last measured call was answered
	firstErr   error
	firstErrAt time.Time
}

func newSession(ctx context.Context, cs *mcp.ClientSession, tool string, args []byte, timeout time.Duration) *session {
	s := &session{
		cs: cs,
		// The arguments are encoded once, so the load generator spends no
		// time on them that it would otherwise take from the endpoint.
		params:  &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)},
		timeout: timeout,
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	// One timer, reset for every call, rather than a context.WithTimeout per
	// call: it bounds each call without allocating.
	s.timer = time.AfterFunc(timeout, s.cancel)
	s.timer.Stop()
	return s
}

func (s *session) close() {
	s.timer.Stop()
	s.cs.Close()
	s.cancel()
}

// outcome is how a call ended.
type outcome int

const (
	callOK        outcome = iota
	callFailed            // counted as an error; the session goes on
	callLost              // counted as an error; the session cannot go on
	callCancelled         // the run's context ended; not counted
)

// call makes one tools/call and reports how long it took, how it ended and,
// unless it succeeded, why.
func (s *session) call(runCtx context.Context) (time.Duration, outcome, error) {
	s.timer.Reset(s.timeout)
	start := time.Now()
	res, err := s.cs.CallTool(s.ctx, s.params)
	d := time.Since(start)
	timedOut := !s.timer.Stop()
	switch {
	case runCtx.Err() != nil:
		return d, callCancelled, runCtx.Err()
	case timedOut:
		return d, callLost, fmt.Errorf("tools/call %s: no answer within %v", s.params.Name, s.timeout)
	case err != nil:
		if errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, mcp.ErrSessionMissing) {
			return d, callLost, err
		}
		return d, callFailed, err
	case res.IsError:
		return d, callFailed, resultError(s.params.Name, res)
	}
	return d, callOK, nil
}

func resultError(tool string, res *mcp.CallToolResult) error {
	const maxText = 200
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			text := t.Text
			if len(text) > maxText {
				text = text[:maxText] + "…"
			}
			return fmt.Errorf("tools/call %s: tool error: %s", tool, text)
		}
	}
	return fmt.Errorf("tools/call %s: tool error", tool)
}

// loop calls the tool through the warmup and then until the run's bound.
func (s *session) loop(ctx context.Context, p *plan) {
	for time.Now().Before(p.measureFrom) {
		_, o, err := s.call(ctx)
		switch o {
		case callCancelled:
			return
		case callLost:
			s.calls++
			s.errors++
			s.fail(err)
			return
		}
	}
	for {
		if p.calls > 0 && p.tickets.Add(1) > p.calls {
			return
		}
		if !p.end.IsZero() && !time.Now().Before(p.end) {
			return
		}
		d, o, err := s.call(ctx)
		if o == callCancelled {
			return
		}
		s.calls++
		s.lastDone = time.Now()
		if o == callOK {
			s.hist.record(d)
			continue
		}
		s.errors++
		s.fail(err)
		if o == callLost {
			return
		}
	}
}

func (s *session) fail(err error) {
	if s.firstErr == nil {
		s.firstErr, s.firstErrAt = err, time.Now()
	}
}

// tally merges what the sessions measured.
func tally(sessions []*session, measureFrom time.Time) *Result {
	var h hist
	res := &Result{Sessions: len(sessions)}
	var last, firstErrAt time.Time
	var firstErr error
	for _, s := range sessions {
		h.merge(&s.hist)
		res.Calls += s.calls
		res.Errors += s.errors
		if s.lastDone.After(last) {
			last = s.lastDone
		}
		if s.firstErr != nil && (firstErr == nil || s.firstErrAt.Before(firstErrAt)) {
			firstErr, firstErrAt = s.firstErr, s.firstErrAt
		}
	}
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	if res.Calls > 0 {
		res.Elapsed = max(last.Sub(measureFrom), 0)
	}
	if res.Elapsed > 0 {
		res.Throughput = float64(h.n) / res.Elapsed.Seconds()
	}
	res.P50 = h.quantile(0.50)
	res.P90 = h.quantile(0.90)
	res.P99 = h.quantile(0.99)
	res.Max = h.max
	return res
}
