package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// A connPool makes the fast path's HTTP/1.1 requests to a plain-HTTP
// upstream over connections it keeps. The goroutine that makes a request
// writes it and reads the response itself: net/http's transport hands every
// request between goroutines of its own, which on a loaded machine costs
// more than the rest of the round trip. It is used only where net/http
// would make a plain HTTP/1.1 request too: an http URL, no proxy, and the
// gateway's own client (upstreamTransport). It is safe for concurrent use.
type connPool struct {
	addr   string // host:port to dial
	host   string // the Host header
	path   string // the request target
	dialer net.Dialer

	mu     sync.Mutex
	idle   []*upConn // guarded by mu: most recently used last
	closed bool      // guarded by mu
}

// Bounds of the pool, as upstreamTransport's.
const (
	maxIdleConns    = 256
	idleConnTimeout = 90 * time.Second
)

type upConn struct {
	conn   net.Conn
	br     *bufio.Reader
	idleAt time.Time
}

// newConnPool returns a pool for requests to u, or nil when net/http should
// make them (see connPool).
func newConnPool(u string, client *http.Client) *connPool {
	if client == nil || client.Transport != upstreamTransport || client.Jar != nil || client.Timeout != 0 {
		return nil
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "http" || pu.User != nil || pu.Host == "" {
		return nil
	}
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: pu}); err != nil || p != nil {
		return nil
	}
	addr := pu.Host
	if pu.Port() == "" {
		addr = net.JoinHostPort(pu.Hostname(), "80")
	}
	return &connPool{
		addr:   addr,
		host:   pu.Host,
		path:   pu.RequestURI(),
		dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
	}
}

// errStaleConn marks a kept connection that took none of a request: the
// upstream had closed it. The request is made again on a new connection, as
// net/http does.
var errStaleConn = errors.New("kept connection closed by the upstream")

// do sends a request with the given method, headers and body (nil for
// none) and returns the response. Its Body must be closed; read to its end
// first, it leaves the connection to the next request. ctx bounds the whole
// exchange, the reading of the body included.
func (p *connPool) do(ctx context.Context, method string, header http.Header, body []byte) (*http.Response, error) {
	req := p.request(method, header, body)
	for {
		c, reused, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := p.exchange(ctx, c, reused, req)
		if errors.Is(err, errStaleConn) && ctx.Err() == nil {
			continue
		}
		return resp, err
	}
}

func (p *connPool) exchange(ctx context.Context, c *upConn, reused bool, req []byte) (*http.Response, error) {
	// Cancelling ctx ends the exchange by ending the connection's reads and
	// writes; the connection is not kept after that.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = c.conn.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if n, err := c.conn.Write(req); err != nil {
		if reused && n == 0 {
			err = errStaleConn
		}
		return fail(err)
	}
	// Once the upstream may have the request, it is not made again: a
	// connection lost now fails the request.
	if _, err := c.br.Peek(1); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return fail(err)
	}
	resp.Body = &pooledBody{rc: resp.Body, pool: p, c: c, stop: stop, keep: !resp.Close}
	return resp, nil
}

// probeAfter is how long a connection may sit idle before it is checked
// for an end the upstream sent meanwhile (servers close idle connections
// after a few seconds).
const probeAfter = 100 * time.Millisecond

// open reports whether the upstream has not closed a kept connection; it
// reads nothing that is not there.
func (c *upConn) open() bool {
	if err := c.conn.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return false
	}
	_, err := c.br.Peek(1)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		// Data nobody asked for, the end of the stream, or a failure.
		return false
	}
	return c.conn.SetReadDeadline(time.Time{}) == nil
}

// request encodes an HTTP/1.1 request.
func (p *connPool) request(method string, header http.Header, body []byte) []byte {
	b := make([]byte, 0, 256+len(body))
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, p.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, p.host...)
	b = append(b, "\r\nUser-Agent: Go-http-client/1.1\r\n"...)
	for k, vs := range header {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if body != nil {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// get returns a kept connection, or a new one.
func (p *connPool) get(ctx context.Context) (*upConn, bool, error) {
	now := time.Now()
	p.mu.Lock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		idle := now.Sub(c.idleAt)
		if idle < probeAfter {
			p.mu.Unlock()
			return c, true, nil
		}
		if idle < idleConnTimeout {
			p.mu.Unlock()
			if c.open() {
				return c, true, nil
			}
			_ = c.conn.Close()
			p.mu.Lock()
			continue
		}
		_ = c.conn.Close()
	}
	p.mu.Unlock()
	conn, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	return &upConn{conn: conn, br: bufio.NewReaderSize(conn, 4<<10)}, false, nil
}

// put keeps a connection for the next request.
func (p *connPool) put(c *upConn) {
	if c.br.Buffered() > 0 {
		// The upstream sent more than its response.
		_ = c.conn.Close()
		return
	}
	if err := c.conn.SetDeadline(time.Time{}); err != nil {
		_ = c.conn.Close()
		return
	}
	c.idleAt = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdleConns {
		p.mu.Unlock()
		_ = c.conn.Close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// close closes the kept connections; connections in use are closed when
// their requests end.
func (p *connPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.conn.Close()
	}
}

// A pooledBody is a response body that gives its connection back to the
// pool once read to its end.
type pooledBody struct {
	rc   io.ReadCloser
	pool *connPool
	c    *upConn
	stop func() bool
	keep bool // the upstream allows another request on the connection
	eof  bool
	done bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	// stop reports false once ctx has ended the connection's deadline.
	if b.stop() && b.eof && b.keep {
		b.pool.put(b.c)
		return nil
	}
	return b.c.conn.Close()
}
