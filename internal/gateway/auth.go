package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/grant"
)

// Identity is who is behind a request, as the gateway established it. It
// rides in the SDK's auth.TokenInfo (Extra["identity"]), so that the SDK
// binds each MCP session to the identity that opened it.
type Identity struct {
	// Grant is the agent credential, when auth is "grants".
	Grant *grant.Grant
	// User is the authenticated end user: the token's subject under OAuth.
	User string
}

// key identifies the principal for session binding and per-grant bounds.
func (id *Identity) key() string {
	if id == nil {
		return ""
	}
	if id.Grant != nil {
		return id.Grant.ID
	}
	return "user:" + id.User
}

// identityOf returns the identity a request's token info carries, or nil.
func identityOf(ti *auth.TokenInfo) *Identity {
	if ti == nil {
		return nil
	}
	id, _ := ti.Extra["identity"].(*Identity)
	return id
}

// errUnauthorized is what every authentication failure looks like to the
// client: which check failed is for the log only.
var errUnauthorized = errors.New("unauthorized")

type verifiedKey struct{}

// authenticate wraps an agent endpoint of server with the configured
// authentication. Failures get 401 with a WWW-Authenticate challenge and
// reach nothing behind it. Success puts the identity where the SDK binds
// sessions to it: a session opened by one credential refuses another.
func (g *Gateway) authenticate(server string, next http.Handler) http.Handler {
	// The SDK's middleware carries the verified token into the session
	// layer; the verification itself happened before it was called.
	bind := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		return ctx.Value(verifiedKey{}).(*auth.TokenInfo), nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := g.cfg.Load().Auth.Mode
		if mode == "none" {
			next.ServeHTTP(w, r)
			return
		}
		ti, err := g.verify(r, server, mode)
		if err != nil {
			g.logger.Info("request refused: not authenticated", "server", server, "remote", r.RemoteAddr, "reason", err)
			challenge := g.challenge(mode)
			if bearer(r) != "" {
				// RFC 6750 §3.1: a token was presented and refused.
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			http.Error(w, "unauthorized: a valid bearer token for this server is required", http.StatusUnauthorized)
			return
		}
		bind.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), verifiedKey{}, ti)))
	})
}

func (g *Gateway) challenge(mode string) string {
	if mode == "oauth" {
		return fmt.Sprintf(`Bearer resource_metadata=%q`, g.resourceMetadataURL())
	}
	return `Bearer realm="toolgate"`
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

func (g *Gateway) verify(r *http.Request, server, mode string) (*auth.TokenInfo, error) {
	token := bearer(r)
	if token == "" {
		return nil, fmt.Errorf("%w: no bearer token", errUnauthorized)
	}
	switch mode {
	case "grants":
		gr, err := grant.Authenticate(r.Context(), g.grants, token, g.now())
		if err != nil {
			if gr != nil {
				return nil, fmt.Errorf("%w: grant %s (%s): %v", errUnauthorized, gr.Label, gr.ID, err)
			}
			return nil, fmt.Errorf("%w: %v", errUnauthorized, err)
		}
		if gr.Server != server {
			return nil, fmt.Errorf("%w: grant %s is for server %q", errUnauthorized, gr.Label, gr.Server)
		}
		return &auth.TokenInfo{
			UserID:     gr.ID,
			Expiration: gr.Expires,
			Extra:      map[string]any{"identity": &Identity{Grant: gr}},
		}, nil
	case "oauth":
		claims, err := g.oauth.Verify(r.Context(), token)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errUnauthorized, err)
		}
		return &auth.TokenInfo{
			UserID:     "user:" + claims.Subject,
			Scopes:     claims.Scopes,
			Expiration: claims.Expiry,
			Extra:      map[string]any{"identity": &Identity{User: claims.Subject}},
		}, nil
	}
	return nil, fmt.Errorf("%w: unknown auth mode %q", errUnauthorized, mode)
}

// checkOrigin refuses browser requests from origins that are neither the
// gateway's own nor configured as trusted: a web page must not drive an
// agent's tools (DNS rebinding and cross-site requests).
func (g *Gateway) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && !g.originAllowed(origin, r.Host) {
			g.logger.Info("request refused: foreign origin", "origin", origin, "remote", r.RemoteAddr)
			http.Error(w, "forbidden: origin not allowed", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) originAllowed(origin, host string) bool {
	for _, o := range g.cfg.Load().AllowedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// grantCalls counts the tools/call in flight per principal, so that one
// agent cannot occupy the gateway.
type inflightCounter struct {
	mu sync.Mutex
	n  map[string]int // guarded by mu
}

// acquire takes one slot for key if fewer than max are taken.
func (c *inflightCounter) acquire(key string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int)
	}
	if c.n[key] >= max {
		return false
	}
	c.n[key]++
	return true
}

func (c *inflightCounter) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key]--; c.n[key] <= 0 {
		delete(c.n, key)
	}
}

// boundsOf returns the config's bounds with defaults for unset fields.
func boundsOf(cfg *config.Config) config.Bounds {
	b, d := cfg.Bounds, config.DefaultBounds()
	if b.MaxBodyBytes <= 0 {
		b.MaxBodyBytes = d.MaxBodyBytes
	}
	if b.MaxDepth <= 0 {
		b.MaxDepth = d.MaxDepth
	}
	if b.MaxArgumentBytes <= 0 {
		b.MaxArgumentBytes = d.MaxArgumentBytes
	}
	if b.MaxSessionsPerGrant <= 0 {
		b.MaxSessionsPerGrant = d.MaxSessionsPerGrant
	}
	if b.MaxCallsPerGrant <= 0 {
		b.MaxCallsPerGrant = d.MaxCallsPerGrant
	}
	return b
}

// jsonDepth returns the nesting depth of a JSON text, stopping early once
// it exceeds limit.
func jsonDepth(data []byte, limit int) int {
	depth, max := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				max = depth
				if max > limit {
					return max
				}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return max
}

// now is the gateway's clock.
func (g *Gateway) now() time.Time {
	if g.opts.Now != nil {
		return g.opts.Now()
	}
	return time.Now()
}
