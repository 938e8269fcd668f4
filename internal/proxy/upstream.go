package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Transport names accepted in [Spec.Transport].
const (
	TransportStdio      = "stdio"
	TransportStreamable = "streamable"
	TransportSSE        = "sse"
)

// A Spec says how to reach one upstream MCP server: a command to run (stdio)
// or a URL (Streamable HTTP, falling back to the legacy HTTP+SSE transport
// when Transport is empty).
//
// A Spec is read-only once passed to [NewFront]; it is safe for concurrent
// use.
type Spec struct {
	// Name is the server's name in the gateway's config and URLs.
	Name string

	Command string
	Args    []string
	// Env is added to the gateway's environment for the child process.
	Env map[string]string
	Dir string

	URL string
	// Headers are sent with every HTTP request to the upstream; they carry
	// the gateway's own upstream credentials.
	Headers map[string]string

	// Transport is TransportStdio, TransportStreamable, TransportSSE, or ""
	// to choose by the other fields.
	Transport string

	// HTTPClient is used for remote upstreams; nil means a default client.
	HTTPClient *http.Client
}

func (s *Spec) transport() string {
	if s.Transport != "" {
		return s.Transport
	}
	if s.Command != "" {
		return TransportStdio
	}
	return ""
}

// dial connects client to the upstream and completes the MCP handshake,
// returning the session and the transport it uses.
// version is the newest protocol version to offer.
// early sees upstream notifications before the SDK does (see earlyFunc).
// ctx bounds the handshake; life is the connection's lifetime.
func (s *Spec) dial(ctx, life context.Context, client *mcp.Client, version string, logger *slog.Logger, early earlyFunc) (*mcp.ClientSession, string, error) {
	opts := &mcp.ClientSessionOptions{ProtocolVersion: version}
	var cs *mcp.ClientSession
	var err error
	switch tr := s.transport(); tr {
	case TransportStdio:
		env := upstreamEnv(os.Environ())
		for _, k := range slices.Sorted(maps.Keys(s.Env)) {
			env = append(env, k+"="+s.Env[k])
		}
		t := &Command{Path: s.Command, Args: s.Args, Env: env, Dir: s.Dir, Logger: logger, Early: early}
		cs, err = client.Connect(ctx, t, opts)
		return cs, tr, err
	case TransportSSE:
		cs, err = client.Connect(ctx, s.sse(life, early), opts)
		return cs, tr, err
	case TransportStreamable:
		cs, err = client.Connect(ctx, s.streamable(early), opts)
		return cs, tr, err
	}
	cs, err = client.Connect(ctx, s.streamable(early), opts)
	if err == nil || ctx.Err() != nil {
		return cs, TransportStreamable, err
	}
	// Servers from before Streamable HTTP answer its POST with an error;
	// the legacy transport is the specified fallback.
	cs, sseErr := client.Connect(ctx, s.sse(life, early), opts)
	if sseErr != nil {
		return nil, "", fmt.Errorf("streamable HTTP: %w; legacy SSE: %w", err, sseErr)
	}
	return cs, TransportSSE, nil
}

// sse returns the legacy transport. Its event stream lives as long as the
// context its Connect is given, so it is given the connection's lifetime
// rather than the handshake's deadline.
func (s *Spec) sse(life context.Context, early earlyFunc) mcp.Transport {
	return &lifeTransport{Transport: &mcp.SSEClientTransport{Endpoint: s.URL, HTTPClient: s.httpClient(early)}, life: life}
}

type lifeTransport struct {
	mcp.Transport
	life context.Context
}

// Connect connects under a context that ends with the connection's
// lifetime, or with ctx if ctx ends before the connection is made.
func (t *lifeTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	connCtx, cancel := context.WithCancel(t.life)
	stop := context.AfterFunc(ctx, cancel)
	conn, err := t.Transport.Connect(connCtx)
	if !stop() || err != nil {
		cancel()
		if err == nil {
			_ = conn.Close()
			err = ctx.Err()
		}
		return nil, err
	}
	return conn, nil
}

func (s *Spec) streamable(early earlyFunc) *mcp.StreamableClientTransport {
	return &mcp.StreamableClientTransport{Endpoint: s.URL, HTTPClient: s.httpClient(early), MaxRetries: 2}
}

// plainClient returns the client for requests the gateway writes itself:
// the configured client, without the wrappers the SDK's transports get.
func (s *Spec) plainClient() *http.Client {
	var c http.Client
	if s.HTTPClient != nil {
		c = *s.HTTPClient
	}
	if c.Transport == nil {
		c.Transport = upstreamTransport
	}
	return &c
}

func (s *Spec) httpClient(early earlyFunc) *http.Client {
	var c http.Client
	if s.HTTPClient != nil {
		c = *s.HTTPClient
	}
	rt := c.Transport
	if rt == nil {
		rt = upstreamTransport
	}
	if len(s.Headers) > 0 {
		rt = &headerTransport{next: rt, headers: s.Headers}
	}
	if early != nil {
		rt = &earlyTransport{next: rt, early: early}
	}
	c.Transport = rt
	return &c
}

// upstreamTransport keeps enough idle connections for many concurrent
// sessions to one upstream; the default of two per host would make every
// burst reconnect.
var upstreamTransport = func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}()

// headerTransport adds the configured upstream headers to every request.
type headerTransport struct {
	next    http.RoundTripper
	headers map[string]string
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	return t.next.RoundTrip(req)
}

// errUnavailable marks errors that mean the upstream cannot be reached now.
var errUnavailable = errors.New("upstream unavailable")

// describe gives a short, path-free description of an upstream for messages
// an agent may see.
func (s *Spec) describe() string {
	return fmt.Sprintf("upstream %q", s.Name)
}

// UpstreamTransport returns the HTTP transport remote upstreams use by
// default, for callers that wrap it (tracing) in Spec.HTTPClient.
func UpstreamTransport() http.RoundTripper { return upstreamTransport }
