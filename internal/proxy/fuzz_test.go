package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// FuzzIngress sends arbitrary request bodies to a front, with and without a
// session, as an agent could: the gateway must answer each with an HTTP
// status or a JSON-RPC error, never crash, and never pass a body it could not
// parse to the upstream.
func FuzzIngress(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","Name":"block","arguments":{"text":"x"}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":null}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`,
		`[{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"a"}}]`,
		`{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}`,
		`{"jsonrpc":"1.0","id":1}`,
		`{`, ``, `null`, `[]`, `"x"`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":[1,2,3]}}`,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	stats := new(upstreamStats)
	up := newTestUpstream(stats)
	upstream := httptest.NewServer(newHandler(up))
	f.Cleanup(upstream.Close)
	front := NewFront(&Spec{Name: "up", URL: upstream.URL}, nil)
	f.Cleanup(front.Close)
	// A session to send in-session bodies on.
	rec := httptest.NewRecorder()
	front.ServeHTTP(rec, ingressRequest(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}`, ""))
	sid := rec.Header().Get("Mcp-Session-Id")
	if sid == "" {
		f.Fatalf("no session: %d %s", rec.Code, rec.Body)
	}
	front.ServeHTTP(httptest.NewRecorder(), ingressRequest(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, sid))

	f.Fuzz(func(t *testing.T, body string, inSession bool) {
		s := ""
		if inSession {
			s = sid
		}
		// A call may legitimately wait (the upstream's "block" tool): the
		// agent's side gives up after a while, as a client would.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		rec := httptest.NewRecorder()
		front.ServeHTTP(rec, ingressRequest(body, s).WithContext(ctx))
		if rec.Code == 0 || rec.Code >= 500 && rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}

func ingressRequest(body, session string) *http.Request {
	r := httptest.NewRequest("POST", "/mcp", io.NopCloser(strings.NewReader(body)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		r.Header.Set("Mcp-Session-Id", session)
		r.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	return r
}

func newHandler(s *mcp.Server) http.Handler {
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
}
