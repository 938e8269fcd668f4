package gateway

import (
	"bytes"
	"context"
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// The legacy SSE transport opens a session with a GET and then takes the
// session's messages as POSTs naming it; the SDK checks no credential on
// those POSTs against the GET's. sseOwners does: it learns each session's
// id from the stream's first event and refuses POSTs to it from any other
// credential, as Streamable HTTP sessions do.
type sseOwners struct {
	mu     sync.Mutex
	owners map[string]string // guarded by mu: session id → principal
}

func (o *sseOwners) set(sid, principal string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owners == nil {
		o.owners = make(map[string]string)
	}
	o.owners[sid] = principal
}

func (o *sseOwners) get(sid string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p, ok := o.owners[sid]
	return p, ok
}

func (o *sseOwners) forget(sid string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.owners, sid)
}

func principalOf(ctx context.Context) string {
	ti, _ := ctx.Value(verifiedKey{}).(*auth.TokenInfo)
	return identityOf(ti).key()
}

// bindSSE wraps the legacy SSE handler of an authenticated endpoint.
func (g *Gateway) bindSSE(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		principal := principalOf(r.Context())
		if principal == "" {
			next.ServeHTTP(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet:
			cw := &endpointCapture{ResponseWriter: w, owners: &g.sse, principal: principal}
			next.ServeHTTP(cw, r)
			if cw.sid != "" {
				g.sse.forget(cw.sid)
			}
		case http.MethodPost:
			if owner, ok := g.sse.get(r.URL.Query().Get("sessionid")); ok && owner != principal {
				g.logger.Info("request refused: session opened by another credential", "remote", r.RemoteAddr)
				http.Error(w, "forbidden: the session belongs to another credential", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// endpointCapture reads the session id from the stream's endpoint event.
type endpointCapture struct {
	http.ResponseWriter
	owners    *sseOwners
	principal string
	sid       string
}

func (c *endpointCapture) Write(p []byte) (int, error) {
	if c.sid == "" {
		if i := bytes.Index(p, []byte("sessionid=")); i >= 0 {
			rest := p[i+len("sessionid="):]
			if j := bytes.IndexAny(rest, "&\r\n"); j >= 0 {
				rest = rest[:j]
			}
			c.sid = string(rest)
			c.owners.set(c.sid, c.principal)
		}
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController flush the stream.
func (c *endpointCapture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *endpointCapture) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
