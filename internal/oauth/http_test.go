package oauth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/toolgate/toolgate/internal/oauth"
)

func TestMetadataURL(t *testing.T) {
	tests := []struct {
		resource, want string
	}{
		{"https://gw.example.com", "https://gw.example.com/.well-known/oauth-protected-resource"},
		{"https://gw.example.com/", "https://gw.example.com/.well-known/oauth-protected-resource"},
		{"https://gw.example.com/mcp/okta", "https://gw.example.com/.well-known/oauth-protected-resource/mcp/okta"},
		{"https://gw.example.com:8443/mcp/", "https://gw.example.com:8443/.well-known/oauth-protected-resource/mcp/"},
		{"http://127.0.0.1:8080/mcp/a%2Fb?x=1", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp/a%2Fb?x=1"},
		{"toolgate", ""},
		{"/mcp", ""},
		{"ftp://gw.example.com/mcp", ""},
		{"https://gw.example.com/mcp#frag", ""},
		{"https://user@gw.example.com/mcp", ""},
	}
	for _, tt := range tests {
		got, err := oauth.MetadataURL(tt.resource)
		if tt.want == "" {
			if err == nil {
				t.Errorf("MetadataURL(%q) = %q; want error", tt.resource, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("MetadataURL(%q) = %q, %v; want %q", tt.resource, got, err, tt.want)
		}
	}
}

func TestMetadata(t *testing.T) {
	h := oauth.Metadata(audience, "https://id.example.com", []string{"mcp:tools"})
	tests := []struct {
		method string
		status int
		body   bool
	}{
		{http.MethodGet, http.StatusOK, true},
		{http.MethodHead, http.StatusOK, false},
		{http.MethodOptions, http.StatusNoContent, false},
		{http.MethodPost, http.StatusMethodNotAllowed, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, "/.well-known/oauth-protected-resource/mcp", nil))
			if rec.Code != tt.status {
				t.Fatalf("%s metadata: status %d; want %d", tt.method, rec.Code, tt.status)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("%s metadata: Access-Control-Allow-Origin %q; want *", tt.method, got)
			}
			if !tt.body {
				if tt.status == http.StatusOK && rec.Body.Len() != 0 {
					t.Errorf("%s metadata: body %q; want none", tt.method, rec.Body)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q; want application/json", ct)
			}
			var got oauthex.ProtectedResourceMetadata
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Resource != audience || !slices.Equal(got.AuthorizationServers, []string{"https://id.example.com"}) ||
				!slices.Equal(got.ScopesSupported, []string{"mcp:tools"}) || !slices.Equal(got.BearerMethodsSupported, []string{"header"}) {
				t.Errorf("metadata = %+v; want resource %s, server https://id.example.com, scope mcp:tools, header", got, audience)
			}
		})
	}
}

// TestMetadataSDKClient fetches the document with the MCP SDK's own client
// code, which checks it as an MCP client would.
func TestMetadataSDKClient(t *testing.T) {
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	defer hs.Close()
	resource := hs.URL + "/mcp/okta"
	murl, err := oauth.MetadataURL(resource)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/.well-known/oauth-protected-resource/mcp/okta", oauth.Metadata(resource, "https://id.example.com", nil))
	got, err := oauthex.GetProtectedResourceMetadata(t.Context(), murl, resource, hs.Client())
	if err != nil {
		t.Fatalf("GetProtectedResourceMetadata(%s) = %v", murl, err)
	}
	if got.Resource != resource {
		t.Errorf("resource = %q; want %q", got.Resource, resource)
	}

	// The challenge parses with the SDK's parser too.
	cs, err := oauthex.ParseWWWAuthenticate([]string{oauth.Challenge(murl, oauth.ErrExpired, "mcp:tools")})
	if err != nil || len(cs) != 1 {
		t.Fatalf("ParseWWWAuthenticate = %v, %v", cs, err)
	}
	if p := cs[0].Params; p["resource_metadata"] != murl || p["error"] != "invalid_token" || p["scope"] != "mcp:tools" {
		t.Errorf("parsed challenge = %v; want resource_metadata %s, invalid_token, mcp:tools", p, murl)
	}
}

func TestChallenge(t *testing.T) {
	const m = "https://gw.example.com/.well-known/oauth-protected-resource"
	tests := []struct {
		url    string
		err    error
		scopes []string
		want   string
	}{
		{m, nil, nil, `Bearer resource_metadata="` + m + `"`},
		{m, oauth.ErrNoToken, nil, `Bearer resource_metadata="` + m + `"`},
		{m, fmt.Errorf("%w: exp …", oauth.ErrExpired), nil, `Bearer resource_metadata="` + m + `", error="invalid_token"`},
		{m, oauth.ErrAudience, []string{"a", "b"}, `Bearer resource_metadata="` + m + `", scope="a b", error="invalid_token"`},
		{m, oauth.ErrInvalidRequest, nil, `Bearer resource_metadata="` + m + `", error="invalid_request"`},
		{m, oauth.ErrInsufficientScope, []string{"a"}, `Bearer resource_metadata="` + m + `", scope="a", error="insufficient_scope"`},
		{m, oauth.ErrKeySetUnavailable, nil, `Bearer resource_metadata="` + m + `"`},
		{"", oauth.ErrSignature, nil, `Bearer error="invalid_token"`},
		{"", nil, nil, `Bearer`},
		{"https://x/\"a\\b\r\n", nil, nil, `Bearer resource_metadata="https://x/\"a\\b"`},
	}
	for _, tt := range tests {
		if got := oauth.Challenge(tt.url, tt.err, tt.scopes...); got != tt.want {
			t.Errorf("Challenge(%q, %v, %q) = %s; want %s", tt.url, tt.err, tt.scopes, got, tt.want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
		err    error
	}{
		{"none", nil, "", oauth.ErrNoToken},
		{"bearer", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", nil},
		{"lower case", []string{"bearer abc"}, "abc", nil},
		{"extra spaces", []string{"Bearer   abc  "}, "abc", nil},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", oauth.ErrNoToken},
		{"scheme only", []string{"Bearer"}, "", oauth.ErrInvalidRequest},
		{"scheme and space", []string{"Bearer "}, "", oauth.ErrInvalidRequest},
		{"two tokens", []string{"Bearer a b"}, "", oauth.ErrInvalidRequest},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", oauth.ErrInvalidRequest},
	}
	for _, tt := range tests {
		h := http.Header{"Authorization": tt.values}
		got, err := oauth.BearerToken(h)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("BearerToken(%s) = %q, %v; want %q, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

func TestRequire(t *testing.T) {
	e := newEnv(t, nil)
	const murl = "https://gw.example.com/.well-known/oauth-protected-resource/mcp"
	var logged error
	mw := e.v.Require(&oauth.RequireOptions{
		ResourceMetadataURL: murl,
		Scopes:              []string{"mcp:tools"},
		OnError:             func(r *http.Request, err error) { logged = err },
	})
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := oauth.FromContext(r.Context())
		if !ok {
			t.Error("FromContext: no claims behind Require")
			return
		}
		io.WriteString(w, "hello "+c.Subject)
	}))

	valid := e.rsa.Sign(t, e.claims(nil))
	tests := []struct {
		name      string
		auth      string
		down      bool
		status    int
		challenge string // WWW-Authenticate; empty: none
		logged    error
	}{
		{"valid", "Bearer " + valid, false, http.StatusOK, "", nil},
		{"no token", "", false, http.StatusUnauthorized,
			`Bearer resource_metadata="` + murl + `", scope="mcp:tools"`, oauth.ErrNoToken},
		{"expired", "Bearer " + e.rsa.Sign(t, e.claims(func(c map[string]any) { c["exp"] = t0.Add(-2 * time.Minute).Unix() })), false,
			http.StatusUnauthorized, `Bearer resource_metadata="` + murl + `", scope="mcp:tools", error="invalid_token"`, oauth.ErrExpired},
		{"wrong audience", "Bearer " + e.rsa.Sign(t, e.claims(func(c map[string]any) { c["aud"] = "x" })), false,
			http.StatusUnauthorized, `Bearer resource_metadata="` + murl + `", scope="mcp:tools", error="invalid_token"`, oauth.ErrAudience},
		{"malformed header", "Bearer a b", false, http.StatusBadRequest, "", oauth.ErrInvalidRequest},
		{"missing scope", "Bearer " + e.rsa.Sign(t, e.claims(func(c map[string]any) { c["scope"] = "other" })), false,
			http.StatusForbidden, `Bearer resource_metadata="` + murl + `", scope="mcp:tools", error="insufficient_scope"`, oauth.ErrInsufficientScope},
		{"key set down", "Bearer " + e.rsa2.Sign(t, e.claims(nil)), true, http.StatusServiceUnavailable, "", oauth.ErrKeySetUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logged = nil
			if tt.down {
				e.srv.Override(http.NotFoundHandler())
				e.clock.Advance(oauth.DefaultMinRefreshInterval)
				defer e.srv.Override(nil)
			}
			req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("%s: status %d; want %d (body %q)", tt.name, rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("%s: WWW-Authenticate %q; want %q", tt.name, got, tt.challenge)
			}
			if tt.logged == nil {
				if logged != nil || rec.Body.String() != "hello alice" {
					t.Errorf("%s: logged %v, body %q; want nothing logged, hello alice", tt.name, logged, rec.Body)
				}
				return
			}
			if !errors.Is(logged, tt.logged) {
				t.Errorf("%s: logged %v; want %v", tt.name, logged, tt.logged)
			}
			// The client reads one generic line, never the reason.
			body := rec.Body.String()
			for _, leak := range []string{"exp", "aud", "sub", "alice", "jwks", "127.0.0.1", "mcp:tools"} {
				if strings.Contains(body, leak) {
					t.Errorf("%s: body %q reveals %q", tt.name, body, leak)
				}
			}
			if strings.Count(body, "\n") != 1 {
				t.Errorf("%s: body %q; want one line", tt.name, body)
			}
		})
	}
}

func TestRequireNilOptions(t *testing.T) {
	e := newEnv(t, nil)
	h := e.v.Require(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("Require(nil), no token: %d %q; want 401 Bearer", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestFromContext(t *testing.T) {
	if c, ok := oauth.FromContext(t.Context()); ok || c != nil {
		t.Errorf("FromContext(empty) = %v, %v; want nil, false", c, ok)
	}
	want := &oauth.Claims{Subject: "bob"}
	if c, ok := oauth.FromContext(oauth.NewContext(t.Context(), want)); !ok || c != want {
		t.Errorf("FromContext(NewContext(bob)) = %v, %v; want bob", c, ok)
	}
}
