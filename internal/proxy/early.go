package proxy

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// The SDK client reads upstream messages in order but hands notifications to
// a handler goroutine while it settles responses at once, so a result can
// overtake the progress notifications the upstream sent before it. Agents'
// clients drop progress that arrives after its result. The gateway therefore
// takes notifications off the upstream stream itself, in the reading
// goroutine, before the SDK sees what follows them: Command does so for
// stdio, and earlyTransport for HTTP responses that are event streams.

// An earlyFunc handles an upstream notification synchronously, reporting
// whether it consumed it.
type earlyFunc func(*jsonrpc.Request) bool

// earlyTransport wraps the event-stream bodies of upstream responses with an
// earlyBody.
type earlyTransport struct {
	next  http.RoundTripper
	early earlyFunc
}

func (t *earlyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		resp.Body = &earlyBody{rc: resp.Body, r: bufio.NewReaderSize(resp.Body, 32<<10), early: t.early}
	}
	return resp, nil
}

// maxEarlyEvent bounds the event an earlyBody buffers; a larger one passes
// through unexamined.
const maxEarlyEvent = 4 << 20

// earlyBody parses server-sent events as they are read. Events whose data is
// a notification that early consumes are removed; everything else passes
// through byte for byte.
type earlyBody struct {
	rc    io.ReadCloser
	r     *bufio.Reader
	early earlyFunc

	out   bytes.Buffer // bytes ready for the reader
	event bytes.Buffer // the raw event being read
	data  bytes.Buffer // its data field
	raw   bool         // the event grew too large: pass it through as is
	err   error
}

func (b *earlyBody) Read(p []byte) (int, error) {
	for b.out.Len() == 0 {
		if b.err != nil {
			return 0, b.err
		}
		line, err := b.r.ReadSlice('\n')
		if len(line) > 0 {
			b.line(line, err == nil)
		}
		if err != nil && err != bufio.ErrBufferFull {
			b.out.Write(b.event.Bytes())
			b.event.Reset()
			b.err = err
		}
	}
	return b.out.Read(p)
}

// line takes the next piece of a line; complete says whether it ends one.
func (b *earlyBody) line(line []byte, complete bool) {
	if b.raw {
		b.out.Write(line)
		if complete && len(bytes.TrimRight(line, "\r\n")) == 0 {
			b.raw = false
		}
		return
	}
	start := b.event.Len()
	b.event.Write(line)
	if b.event.Len() > maxEarlyEvent {
		b.out.Write(b.event.Bytes())
		b.event.Reset()
		b.data.Reset()
		b.raw = true
		return
	}
	if !complete {
		return
	}
	// Whole lines only from here: a partial line was buffered in event.
	full := bytes.TrimRight(b.event.Bytes()[lineStart(b.event.Bytes(), start):], "\r\n")
	if len(full) == 0 {
		b.endEvent()
		return
	}
	if v, ok := bytes.CutPrefix(full, []byte("data:")); ok {
		v = bytes.TrimPrefix(v, []byte(" "))
		if b.data.Len() > 0 {
			b.data.WriteByte('\n')
		}
		b.data.Write(v)
	}
}

// lineStart finds where the last line of buf begins, at or before from.
func lineStart(buf []byte, from int) int {
	if i := bytes.LastIndexByte(buf[:from], '\n'); i >= 0 {
		return i + 1
	}
	return 0
}

func (b *earlyBody) endEvent() {
	consumed := false
	if b.data.Len() > 0 {
		if msg, err := jsonrpc.DecodeMessage(b.data.Bytes()); err == nil {
			if req, ok := msg.(*jsonrpc.Request); ok && !req.IsCall() {
				consumed = b.early(req)
			}
		}
	}
	if !consumed {
		b.out.Write(b.event.Bytes())
	}
	b.event.Reset()
	b.data.Reset()
}

func (b *earlyBody) Close() error { return b.rc.Close() }
