package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// ErrNoToken is the error of a request that carries no bearer token: no
// Authorization header, or one of another scheme. Its challenge names no
// error (RFC 6750 §3.1), so the client starts the OAuth flow.
var ErrNoToken = errors.New("no bearer token")

// ErrInvalidRequest matches the errors of a malformed Authorization header:
// several of them, or a Bearer one without exactly one token. HTTP 400,
// error="invalid_request".
var ErrInvalidRequest = errors.New("malformed authorization header")

// ErrInsufficientScope matches the errors of CheckScopes. HTTP 403,
// error="insufficient_scope".
var ErrInsufficientScope = errors.New("insufficient scope")

// wellKnown is the path prefix of RFC 9728 §3.
const wellKnown = "/.well-known/oauth-protected-resource"

// MetadataURL returns the URL at which RFC 9728 §3.1 has a client look for
// the metadata of resource: the well-known prefix inserted between its host
// and its path, so that https://gw.example.com/mcp/okta has its metadata at
// https://gw.example.com/.well-known/oauth-protected-resource/mcp/okta. It
// fails if resource is not an absolute http or https URL without a fragment.
func MetadataURL(resource string) (string, error) {
	u, err := url.Parse(resource)
	if err != nil {
		return "", fmt.Errorf("resource %q: %w", resource, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("resource %q is not an absolute http(s) URL without user info or fragment", resource)
	}
	p := u.EscapedPath()
	if p == "/" {
		p = ""
	}
	s := u.Scheme + "://" + u.Host + wellKnown + p
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	return s, nil
}

// Metadata returns a handler that serves the RFC 9728 protected resource
// metadata of resource (the gateway's resource URI, Config.Audience): the
// authorization server issuer, the scopes a client may ask for (none
// listed if nil) and that tokens go in the Authorization header. It answers
// GET and HEAD, answers CORS preflights (the document is public, so any
// origin may read it), and refuses other methods with 405. Mount it at the
// path of MetadataURL(resource). The handler is safe for concurrent use.
func Metadata(resource, issuer string, scopes []string) http.Handler {
	doc := oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		ScopesSupported:        scopes,
		BearerMethodsSupported: []string{"header"},
	}
	if issuer != "" {
		doc.AuthorizationServers = []string{issuer}
	}
	body, _ := json.Marshal(doc) // cannot fail: the document holds only strings
	body = append(body, '\n')
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", length)
			h.Set("Cache-Control", "public, max-age=300")
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				w.Write(body)
			}
		case http.MethodOptions:
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "*")
			w.WriteHeader(http.StatusNoContent)
		default:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// BearerToken returns the bearer token of a request's headers (RFC 6750
// §2.1; the scheme is case-insensitive). Its errors match ErrNoToken or
// ErrInvalidRequest.
func BearerToken(h http.Header) (string, error) {
	vals := h.Values("Authorization")
	switch {
	case len(vals) == 0:
		return "", ErrNoToken
	case len(vals) > 1:
		return "", fmt.Errorf("%w: %d Authorization headers", ErrInvalidRequest, len(vals))
	}
	scheme, rest, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken
	}
	tok := strings.Trim(rest, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", fmt.Errorf("%w: Bearer needs exactly one token", ErrInvalidRequest)
	}
	return tok, nil
}

// CheckScopes returns nil if c has every one of required, and otherwise an
// error matching ErrInsufficientScope that names the missing ones.
func (c *Claims) CheckScopes(required []string) error {
	var missing []string
	for _, s := range required {
		if !slices.Contains(c.Scopes, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: sub %q lacks %q", ErrInsufficientScope, c.Subject, missing)
	}
	return nil
}

// StatusCode returns the HTTP status of a refusal: 401 for ErrNoToken and
// ErrInvalidToken, 400 for ErrInvalidRequest, 403 for ErrInsufficientScope,
// 503 for ErrKeySetUnavailable, and 500 for anything else.
func StatusCode(err error) int {
	switch {
	case errors.Is(err, ErrNoToken), errors.Is(err, ErrInvalidToken):
		return http.StatusUnauthorized
	case errors.Is(err, ErrInvalidRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrInsufficientScope):
		return http.StatusForbidden
	case errors.Is(err, ErrKeySetUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Challenge returns the WWW-Authenticate value (RFC 6750 §3, RFC 9728 §5.1)
// for a request refused with err, pointing to the metadata at metadataURL
// (omitted if empty) and naming the scopes the resource needs (omitted if
// none). The error code says only which kind of refusal it is, never why:
// none for ErrNoToken or a nil err, "invalid_token" for every ErrInvalidToken,
// "invalid_request" for ErrInvalidRequest and "insufficient_scope" for
// ErrInsufficientScope; other errors are not the client's and get none.
func Challenge(metadataURL string, err error, scopes ...string) string {
	var params []string
	if metadataURL != "" {
		params = append(params, "resource_metadata="+quote(metadataURL))
	}
	if len(scopes) > 0 {
		params = append(params, "scope="+quote(strings.Join(scopes, " ")))
	}
	var code string
	switch {
	case err == nil, errors.Is(err, ErrNoToken):
	case errors.Is(err, ErrInvalidToken):
		code = "invalid_token"
	case errors.Is(err, ErrInvalidRequest):
		code = "invalid_request"
	case errors.Is(err, ErrInsufficientScope):
		code = "insufficient_scope"
	}
	if code != "" {
		params = append(params, "error="+quote(code))
	}
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// quote makes s an RFC 9110 quoted-string, dropping control characters,
// which have no place in a header.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// clientText is the one line a refused client reads in the response body.
func clientText(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "missing or invalid access token"
	case http.StatusBadRequest:
		return "malformed Authorization header"
	case http.StatusForbidden:
		return "insufficient scope"
	case http.StatusServiceUnavailable:
		return "authorization temporarily unavailable"
	}
	return "internal error"
}

// RequireOptions configures Require. A nil *RequireOptions is the zero
// value: no metadata URL in challenges, no scopes required, nothing logged.
type RequireOptions struct {
	// ResourceMetadataURL is sent in every challenge; see MetadataURL.
	ResourceMetadataURL string
	// Scopes must all be in a token, else the request gets 403.
	Scopes []string
	// OnError, if set, is called with the precise reason for every refused
	// request, ErrNoToken included, for the operator's log and records. The
	// client never sees it.
	OnError func(r *http.Request, err error)
}

// Require returns middleware that lets a request through only with a valid
// bearer token that has opts.Scopes, and passes the token's claims on in the
// request's context (see FromContext). A refused request gets the status of
// StatusCode, the WWW-Authenticate header of Challenge on 401 and 403, and a
// one-line body that gives no reason.
func (v *Verifier) Require(opts *RequireOptions) func(http.Handler) http.Handler {
	var o RequireOptions
	if opts != nil {
		o = *opts
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := v.authenticate(r, o.Scopes)
			if err != nil {
				if o.OnError != nil {
					o.OnError(r, err)
				}
				status := StatusCode(err)
				if status == http.StatusUnauthorized || status == http.StatusForbidden {
					w.Header().Set("WWW-Authenticate", Challenge(o.ResourceMetadataURL, err, o.Scopes...))
				}
				http.Error(w, clientText(status), status)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
		})
	}
}

func (v *Verifier) authenticate(r *http.Request, scopes []string) (*Claims, error) {
	tok, err := BearerToken(r.Header)
	if err != nil {
		return nil, err
	}
	c, err := v.Verify(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	if err := c.CheckScopes(scopes); err != nil {
		return nil, err
	}
	return c, nil
}

type claimsKey struct{}

// NewContext returns a copy of ctx that carries c.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the claims that Require or NewContext put in ctx.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}
