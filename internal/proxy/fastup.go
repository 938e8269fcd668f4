package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An upstreamHTTP sends the fast path's messages into one upstream session
// over Streamable HTTP, as the SDK's client would send them: the same
// endpoint, session ID, protocol version and configured headers. It lasts
// as long as that upstream session and is safe for concurrent use.
type upstreamHTTP struct {
	cs     *mcp.ClientSession
	client *http.Client
	pool   *connPool // when set, used instead of client
	url    string
	header http.Header // read-only
	ids    atomic.Uint64
}

// newUpstreamHTTP returns the fast path's way into cs, a stateful session
// over Streamable HTTP, or nil when the session's revision is one whose
// requests carry more than the fast path writes (2026-07-28 and later).
func (f *Front) newUpstreamHTTP(cs *mcp.ClientSession) *upstreamHTTP {
	ir := cs.InitializeResult()
	if ir == nil || ir.ProtocolVersion >= "2026-07-28" {
		return nil
	}
	h := http.Header{
		"Content-Type":         {"application/json"},
		"Accept":               {"application/json, text/event-stream"},
		"Mcp-Protocol-Version": {ir.ProtocolVersion},
	}
	if id := cs.ID(); id != "" {
		h.Set("Mcp-Session-Id", id)
	}
	pool := f.pool
	for k, v := range f.spec.Headers {
		h.Set(k, v)
		if strings.ContainsAny(k, "\r\n:") || strings.ContainsAny(v, "\r\n") {
			// net/http refuses such a header; the pool would write it.
			pool = nil
		}
	}
	return &upstreamHTTP{cs: cs, client: f.plainClient, pool: pool, url: f.spec.URL, header: h}
}

// nextID returns an ID for a request of the fast path. The SDK's client
// numbers its requests, so a string cannot collide with them.
func (u *upstreamHTTP) nextID() string {
	return "tg-" + strconv.FormatUint(u.ids.Add(1), 10)
}

func (u *upstreamHTTP) post(ctx context.Context, body []byte) (*http.Response, error) {
	if u.pool != nil {
		return u.pool.do(ctx, http.MethodPost, u.header, body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = u.header.Clone()
	return u.client.Do(req)
}

// resume reopens a response stream the upstream ended early, from after
// the event lastID.
func (u *upstreamHTTP) resume(ctx context.Context, lastID string) (*http.Response, error) {
	h := u.header.Clone()
	h.Del("Content-Type")
	h.Set("Accept", "text/event-stream")
	h.Set("Last-Event-ID", lastID)
	if u.pool != nil {
		return u.pool.do(ctx, http.MethodGet, h, nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header = h
	return u.client.Do(req)
}

// send posts a message that expects no answer (a response to one of the
// upstream's requests).
func (u *upstreamHTTP) send(ctx context.Context, body []byte) error {
	resp, err := u.post(ctx, body)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upstream answered %s", resp.Status)
	}
	return nil
}

// errBroken marks a failure after which the SDK's client would consider the
// upstream session broken, and reconnect.
var errBroken = errors.New("upstream session broken")

// checkStatus turns an unsuccessful HTTP response to a POST into an error,
// as the SDK's client does: the upstream's JSON-RPC error when the body
// carries one; errBroken for a session the upstream no longer knows and for
// other failures that are not transient.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if env, err := decodeEnvelope(body); err == nil && env.isResponse() && env.Error != nil {
		if we, err := wireError(env.Error); err == nil {
			return we
		}
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return fmt.Errorf("upstream answered %s", resp.Status)
	}
	return fmt.Errorf("%w: upstream answered %s", errBroken, resp.Status)
}

// maxEvent bounds one server-sent event from the upstream, as the SDK's
// client bounds it.
const maxEvent = mcp.DefaultMaxEventSize

// An sseReader reads server-sent events.
type sseReader struct {
	br   *bufio.Reader
	line []byte // a line longer than br's buffer
}

// An sseEvent is one event: its fields, and its data lines joined by
// newlines.
type sseEvent struct {
	name, id, retry string
	data            bytes.Buffer
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

func newSSEReader(r io.Reader) *sseReader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return &sseReader{br: br}
}

func (s *sseReader) release() {
	s.br.Reset(nil)
	readerPool.Put(s.br)
	s.br = nil
}

// next reads the next event into ev. It returns io.EOF when the stream ends
// cleanly, and another error for a stream that is broken or malformed
// (wrapping errBroken).
func (s *sseReader) next(ev *sseEvent) error {
	ev.name, ev.id, ev.retry = "", "", ""
	ev.data.Reset()
	seen, hasData, size := false, false, 0
	for {
		line, err := s.readLine()
		size += len(line)
		if size > maxEvent {
			return fmt.Errorf("%w: event larger than %d bytes", errBroken, maxEvent)
		}
		if err != nil && err != io.EOF {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if seen {
				return nil
			}
			if err == io.EOF {
				return io.EOF
			}
			continue
		}
		key, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return fmt.Errorf("%w: malformed line in the event stream: %.100q", errBroken, line)
		}
		switch string(key) {
		case "event":
			ev.name, seen = string(bytes.TrimSpace(value)), true
		case "id":
			ev.id, seen = string(bytes.TrimSpace(value)), true
		case "retry":
			ev.retry, seen = string(bytes.TrimSpace(value)), true
		case "data":
			if hasData {
				ev.data.WriteByte('\n')
			}
			ev.data.Write(bytes.TrimSpace(value))
			hasData, seen = true, true
		}
		if err == io.EOF {
			if seen {
				return nil
			}
			return io.EOF
		}
	}
}

// readLine returns the next line, with its end; the slice is valid until
// the next call.
func (s *sseReader) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	s.line = append(s.line[:0], line...)
	for err == bufio.ErrBufferFull {
		line, err = s.br.ReadSlice('\n')
		s.line = append(s.line, line...)
		if len(s.line) > maxEvent {
			return s.line, nil
		}
	}
	return s.line, err
}

// resumeDelay is how long to wait before reopening a stream: what the
// upstream asked for, or a growing delay from one second.
func resumeDelay(retry string, attempt int) time.Duration {
	if ms, err := strconv.ParseInt(retry, 10, 64); err == nil && ms >= 0 {
		return time.Duration(ms) * time.Millisecond
	}
	d := time.Second
	for range attempt {
		d = d * 3 / 2
	}
	return min(d, 30*time.Second)
}
