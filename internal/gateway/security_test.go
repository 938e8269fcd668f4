package gateway

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/oauth/oauthtest"
	"github.com/toolgate/toolgate/internal/oktasim"
)

// recorder is an upstream that counts what reaches it and keeps the
// headers it was sent.
type recorder struct {
	sim      *oktasim.Sim
	requests atomic.Int64
	mu       sync.Mutex
	headers  []http.Header // guarded by mu
}

func (rec *recorder) handler() http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return rec.sim.Server() }, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.requests.Add(1)
		rec.mu.Lock()
		rec.headers = append(rec.headers, r.Header.Clone())
		rec.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// secure is a gateway with authentication in front of two recorded
// upstreams, okta and other.
type secure struct {
	*harness
	rec   *recorder
	base  string // http://host:port of the agent listener
	admin string
	cfg   string // the config file
}

func startSecure(t *testing.T, auth string) *secure {
	t.Helper()
	return startSecureWith(t, auth, "")
}

// startSecureWith adds extra top-level config fields (`"key": value,`).
func startSecureWith(t *testing.T, auth, extra string) *secure {
	t.Helper()
	s := &secure{harness: &harness{t: t, dir: t.TempDir(), sim: oktasim.New(nil)}}
	s.rec = &recorder{sim: s.sim}
	up := httptest.NewServer(s.rec.handler())
	t.Cleanup(up.Close)
	other := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return oktasim.New(nil).Server() }, nil))
	t.Cleanup(other.Close)
	writeFile(t, filepath.Join(s.dir, "okta.json"), `{"version": "1", "default": "deny", "hide": ["delete_user"], "tools": {"get_user": {}, "list_groups": {}}}`)
	s.cfg = filepath.Join(s.dir, "toolgate.json")
	writeFile(t, s.cfg, `{
  "listen": "127.0.0.1:0",
  "auth": `+auth+`,`+extra+`
  "admin": {"listen": "127.0.0.1:0"},
  "bounds": {"max_body_bytes": 65536, "max_sessions_per_grant": 2, "max_depth": 8},
  "mcpServers": {
    "okta": {"url": "`+up.URL+`", "policy": "okta.json"},
    "other": {"url": "`+other.URL+`"}
  }
}`)
	cfg, err := config.Load(s.cfg, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	s.g, err = New(cfg, &Options{Notice: io.Discard, Getenv: func(k string) (string, bool) {
		if k == AdminTokenEnv {
			return "tga_test-admin-token", true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addrs := make(chan [2]net.Addr, 1)
	go func() { done <- s.g.Run(ctx, func(a, b net.Addr) { addrs <- [2]net.Addr{a, b} }) }()
	a := <-addrs
	s.base, s.admin = "http://"+a[0].String(), "http://"+a[1].String()
	s.url = s.base + "/mcp/okta"
	t.Cleanup(func() {
		cancel()
		<-done
	})
	if err := s.g.Front("okta").WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// grant makes a grant through the admin API, as an operator would, and
// returns its token.
func (s *secure) grant(label, server, expires string) string {
	s.t.Helper()
	body := fmt.Sprintf(`{"label": %q, "server": %q, "expires": %q}`, label, server, expires)
	resp := s.do("POST", s.admin+"/api/v1/grants", map[string]string{"Authorization": "Bearer tga_test-admin-token"}, body)
	if resp.code != http.StatusCreated {
		s.t.Fatalf("create grant: %d %s", resp.code, resp.body)
	}
	var c Created
	if err := json.Unmarshal([]byte(resp.body), &c); err != nil {
		s.t.Fatal(err)
	}
	return c.Token
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (s *secure) do(method, url string, headers map[string]string, body string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(data)}
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// session opens an MCP session with token over raw HTTP and returns its id.
func (s *secure) session(token string) string {
	s.t.Helper()
	r := s.do("POST", s.url, map[string]string{"Authorization": "Bearer " + token}, initBody)
	if r.code != http.StatusOK {
		s.t.Fatalf("initialize: %d %s", r.code, r.body)
	}
	sid := r.header.Get("Mcp-Session-Id")
	r = s.do("POST", s.url, map[string]string{"Authorization": "Bearer " + token, "Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if r.code/100 != 2 {
		s.t.Fatalf("initialized: %d %s", r.code, r.body)
	}
	return sid
}

func callBody(id int, tool string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{"userId":"x"}}}`, id, tool)
}

func TestAuthenticationMatrix(t *testing.T) {
	s := startSecure(t, `"grants"`)
	live := s.grant("agent-a", "okta", "")
	other := s.grant("agent-b", "okta", "")
	revoked := s.grant("revoked-agent", "okta", "")
	expired := s.grant("expiring-agent", "okta", "1s")
	wrongServer := s.grant("other-agent", "other", "")
	if r := s.do("DELETE", s.admin+"/api/v1/grants/revoked-agent", map[string]string{"Authorization": "Bearer tga_test-admin-token"}, ""); r.code != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.code, r.body)
	}
	sid := s.session(live)
	waitFor(t, "the short grant to expire", func() bool {
		return s.do("POST", s.url, map[string]string{"Authorization": "Bearer " + expired}, initBody).code == 401
	})

	forged := "tg_" + strings.Repeat("A", len(live)-3)
	inSession := func(token string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + token, "Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
	}
	cases := []struct {
		name    string
		headers map[string]string
		body    string
		want    int
	}{
		{"no token", nil, initBody, 401},
		{"not a bearer token", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, initBody, 401},
		{"malformed token", map[string]string{"Authorization": "Bearer abc"}, initBody, 401},
		{"unknown token", map[string]string{"Authorization": "Bearer " + forged}, initBody, 401},
		{"revoked grant", map[string]string{"Authorization": "Bearer " + revoked}, initBody, 401},
		{"expired grant", map[string]string{"Authorization": "Bearer " + expired}, initBody, 401},
		{"grant for another server", map[string]string{"Authorization": "Bearer " + wrongServer}, initBody, 401},
		{"admin token as a grant", map[string]string{"Authorization": "Bearer tga_test-admin-token"}, initBody, 401},
		{"session replayed with another grant", inSession(other), callBody(2, "get_user"), 403},
		{"session replayed without a token", map[string]string{"Mcp-Session-Id": sid}, callBody(2, "get_user"), 401},
		{"foreign origin", map[string]string{"Authorization": "Bearer " + live, "Origin": "https://evil.example"}, initBody, 403},
		{"DNS rebinding host", map[string]string{"Authorization": "Bearer " + live, "Host": "evil.example:80"}, initBody, 403},
		{"oversized body", map[string]string{"Authorization": "Bearer " + live}, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"pad":"` + strings.Repeat("x", 70000) + `"}}`, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.rec.requests.Load()
			r := s.do("POST", s.url, tc.headers, tc.body)
			if r.code != tc.want {
				t.Fatalf("status %d (%s); want %d", r.code, strings.TrimSpace(r.body), tc.want)
			}
			if tc.want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", r.header.Get("WWW-Authenticate"))
			}
			if n := s.rec.requests.Load() - before; n != 0 {
				t.Errorf("the upstream received %d requests; want none", n)
			}
		})
	}

	// The open session works with its own grant, and stops at the next
	// request once that grant is revoked.
	if r := s.do("POST", s.url, inSession(live), callBody(3, "get_user")); r.code != 200 || !strings.Contains(r.body, `"result"`) {
		t.Fatalf("call in the grant's own session: %d %s", r.code, r.body)
	}
	if r := s.do("DELETE", s.admin+"/api/v1/grants/agent-a", map[string]string{"Authorization": "Bearer tga_test-admin-token"}, ""); r.code != 200 {
		t.Fatalf("revoke agent-a: %d", r.code)
	}
	before := s.rec.requests.Load()
	if r := s.do("POST", s.url, inSession(live), callBody(4, "get_user")); r.code != 401 {
		t.Fatalf("call after revocation: %d; want 401", r.code)
	}
	if n := s.rec.requests.Load() - before; n != 0 {
		t.Errorf("after revocation the upstream received %d requests; want none", n)
	}
}

// TestCredentialsStayAtTheGateway checks that nothing of the agent's
// credentials reaches the upstream: the Authorization header and cookies
// are the agent's, not the upstream's.
func TestCredentialsStayAtTheGateway(t *testing.T) {
	s := startSecure(t, `"grants"`)
	token := s.grant("agent", "okta", "")
	sid := s.session(token)
	r := s.do("POST", s.url, map[string]string{"Authorization": "Bearer " + token, "Cookie": "session=agent-cookie", "Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}, callBody(2, "get_user"))
	if r.code != 200 {
		t.Fatalf("call: %d %s", r.code, r.body)
	}
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	for _, h := range s.rec.headers {
		if strings.Contains(h.Get("Authorization"), token) || h.Get("Cookie") != "" {
			t.Fatalf("the upstream received the agent's credentials: %v", h)
		}
	}
}

// TestCaseConfusion sends a tools/call whose params carry both "name" and
// "Name": the gateway must decide on the tool it forwards, and forward only
// that one (the class of go-sdk's CVE-2026-27896).
func TestCaseConfusion(t *testing.T) {
	s := startSecure(t, `"grants"`)
	token := s.grant("agent", "okta", "")
	sid := s.session(token)
	h := map[string]string{"Authorization": "Bearer " + token, "Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
	for i, body := range []string{
		`{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"get_user","Name":"delete_user","arguments":{"userId":"x"}}}`,
		`{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"Name":"delete_user","name":"get_user","arguments":{"userId":"x"}}}`,
		`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"NAME":"delete_user","name":"get_user","arguments":{"userId":"x"}}}`,
	} {
		r := s.do("POST", s.url, h, body)
		if r.code != 200 {
			t.Fatalf("case %d: %d %s", i, r.code, r.body)
		}
	}
	if n := s.sim.Calls("delete_user"); n != 0 {
		t.Errorf("delete_user (hidden) ran %d times upstream", n)
	}
	if n := s.sim.Calls("get_user"); n != 3 {
		t.Errorf("get_user ran %d times upstream; want 3 (the tool the policy decided on)", n)
	}
}

func TestBounds(t *testing.T) {
	s := startSecure(t, `"grants"`)
	token := s.grant("agent", "okta", "")
	s.session(token)
	s.session(token)
	before := s.rec.requests.Load()
	r := s.do("POST", s.url, map[string]string{"Authorization": "Bearer " + token}, initBody)
	if !strings.Contains(r.body, "too many open sessions") {
		t.Errorf("third session: %d %s; want a refusal naming the bound", r.code, r.body)
	}
	if n := s.rec.requests.Load() - before; n != 0 {
		t.Errorf("the refused session reached the upstream (%d requests)", n)
	}

	// A second credential is not affected by the first one's bound.
	other := s.grant("other", "okta", "")
	sid := s.session(other)
	deep := strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20)
	r = s.do("POST", s.url, map[string]string{"Authorization": "Bearer " + other, "Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"},
		`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_user","arguments":{"userId":`+deep+`}}}`)
	if !strings.Contains(r.body, "nest deeper") || s.sim.Calls("get_user") != 0 {
		t.Errorf("deep arguments: %d %s; want a refusal before the upstream", r.code, r.body)
	}
}

func TestAdminAPISeparation(t *testing.T) {
	s := startSecure(t, `"grants"`)
	token := s.grant("agent", "okta", "")
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer " + token}, {"Authorization": "Bearer wrong"}} {
		if r := s.do("GET", s.admin+"/api/v1/grants", h, ""); r.code != 401 {
			t.Errorf("admin API with %v: %d; want 401", h, r.code)
		}
	}
	r := s.do("GET", s.admin+"/api/v1/grants", map[string]string{"Authorization": "Bearer tga_test-admin-token"}, "")
	if r.code != 200 || !strings.Contains(r.body, `"label": "agent"`) || strings.Contains(r.body, token) {
		t.Errorf("grant list: %d %s; want the grant, never its token", r.code, r.body)
	}
}

func TestOAuth(t *testing.T) {
	key := oauthtest.NewKey(t, "k1", jose.RS256)
	stranger := oauthtest.NewKey(t, "k1", jose.RS256) // same kid, another key
	idp := oauthtest.NewServer(t, key)
	// The audience is the gateway's resource URI; the test learns the port
	// only after start, so it names a fixed resource.
	const resource = "https://gateway.example/mcp"
	s := startSecure(t, fmt.Sprintf(`{"oauth": {"issuer": %q, "jwks_url": %q, "audience": %q}}`, idp.URL, idp.JWKSURL, resource))
	now := time.Now()
	valid := idp.Claims("alice", resource, now, time.Hour)
	with := func(k string, v any) map[string]any {
		c := idp.Claims("alice", resource, now, time.Hour)
		c[k] = v
		return c
	}
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"valid", key.Sign(t, valid), 200},
		{"wrong audience", key.Sign(t, with("aud", "https://elsewhere.example/mcp")), 401},
		{"wrong issuer", key.Sign(t, with("iss", "https://evil.example")), 401},
		{"bad signature", stranger.Sign(t, valid), 401},
		{"expired", key.Sign(t, with("exp", now.Add(-time.Hour).Unix())), 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.rec.requests.Load()
			r := s.do("POST", s.url, map[string]string{"Authorization": "Bearer " + tc.token}, initBody)
			if r.code != tc.want {
				t.Fatalf("status %d (%s); want %d", r.code, r.body, tc.want)
			}
			if tc.want == 401 {
				if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, "resource_metadata=") {
					t.Errorf("challenge %q does not point to the resource metadata", ch)
				}
				if n := s.rec.requests.Load() - before; n != 0 {
					t.Errorf("the upstream received %d requests; want none", n)
				}
			}
		})
	}
	r := s.do("GET", s.base+"/.well-known/oauth-protected-resource/mcp", nil, "")
	if r.code != 200 || !strings.Contains(r.body, idp.URL) || !strings.Contains(r.body, resource) {
		t.Errorf("protected resource metadata: %d %s", r.code, r.body)
	}
}

// TestGrantsSharedOnPostgres runs two gateways on one PostgreSQL: a grant
// made on one works on the other, and revoking it on the first refuses it on
// the second at its next request.
func TestGrantsSharedOnPostgres(t *testing.T) {
	pg, schema := pgSchema(t)
	extra := fmt.Sprintf(`
  "postgres": %q, "postgres_schema": %q,`, pg, schema)
	a := startSecureWith(t, `"grants"`, extra)
	b := startSecureWith(t, `"grants"`, extra)
	label := "shared-" + fmt.Sprint(time.Now().UnixNano())
	token := a.grant(label, "okta", "")
	b.session(token)
	if r := a.do("DELETE", a.admin+"/api/v1/grants/"+label, map[string]string{"Authorization": "Bearer tga_test-admin-token"}, ""); r.code != 200 {
		t.Fatalf("revoke on a: %d %s", r.code, r.body)
	}
	if r := b.do("POST", b.url, map[string]string{"Authorization": "Bearer " + token}, initBody); r.code != 401 {
		t.Fatalf("b after revocation on a: %d; want 401", r.code)
	}
}

// TestTLS serves both listeners over HTTPS from configured PEM files.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "cert.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, filepath.Join(dir, "key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	tlsConf := `{"cert": "cert.pem", "key": "key.pem"}`
	sim := oktasim.New(nil)
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return sim.Server() }, nil))
	t.Cleanup(up.Close)
	cfgPath := filepath.Join(dir, "toolgate.json")
	writeFile(t, cfgPath, `{"listen": "127.0.0.1:0", "tls": `+tlsConf+`,
  "admin": {"listen": "127.0.0.1:0", "tls": `+tlsConf+`},
  "mcpServers": {"okta": {"url": "`+up.URL+`"}}}`)
	cfg, err := config.Load(cfgPath, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, &Options{Notice: io.Discard, Getenv: func(k string) (string, bool) {
		if k == AdminTokenEnv {
			return "tga_tls", true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addrs := make(chan [2]net.Addr, 1)
	go func() { done <- g.Run(ctx, func(a, b net.Addr) { addrs <- [2]net.Addr{a, b} }) }()
	a := <-addrs
	t.Cleanup(func() {
		cancel()
		<-done
	})
	pool := x509.NewCertPool()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("POST", "https://"+a[1].String()+"/api/v1/grants", strings.NewReader(`{"label": "tls-agent", "server": "okta"}`))
	req.Header.Set("Authorization", "Bearer tga_tls")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("admin API over TLS: %v", err)
	}
	var c Created
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create grant over TLS: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(c.ClientConfig.(map[string]any)["mcpServers"].(map[string]any)["okta"].(map[string]any)["url"].(string), "https://") {
		t.Errorf("client config %v does not use https", c.ClientConfig)
	}
	req, _ = http.NewRequest("POST", "https://"+a[0].String()+"/mcp/okta", strings.NewReader(initBody))
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err = client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("initialize over TLS: %v %v", resp, err)
	}
	resp.Body.Close()
	// Plain HTTP to a TLS listener gets nowhere.
	if resp, err := http.Post("http://"+a[0].String()+"/mcp/okta", "application/json", strings.NewReader(initBody)); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP was served on the TLS listener")
	}
}

// bearer is an HTTP client that sends token, as a configured MCP client does.
func bearerHTTP(token string) *http.Client {
	return &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestGrantPolicyOnEveryTransport binds a policy to a grant and checks it
// governs that grant's calls over Streamable HTTP and legacy SSE alike, and
// that it narrows the server's policy without widening it.
func TestGrantPolicyOnEveryTransport(t *testing.T) {
	s := startSecure(t, `"grants"`)
	writeFile(t, filepath.Join(s.dir, "narrow.json"), `{"version": "1", "default": "allow", "tools": {"get_user": {"action": "deny", "reason": "not for this agent"}}}`)
	body := fmt.Sprintf(`{"label": "narrow", "server": "okta", "policy": %q}`, filepath.Join(s.dir, "narrow.json"))
	r := s.do("POST", s.admin+"/api/v1/grants", map[string]string{"Authorization": "Bearer tga_test-admin-token"}, body)
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	var c Created
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatal(err)
	}
	for name, tr := range map[string]mcp.Transport{
		"streamable": &mcp.StreamableClientTransport{Endpoint: s.url, HTTPClient: bearerHTTP(c.Token)},
		"sse":        &mcp.SSEClientTransport{Endpoint: s.base + "/sse/okta", HTTPClient: bearerHTTP(c.Token)},
	} {
		t.Run(name, func(t *testing.T) {
			cl := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil)
			cs, err := cl.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			// The server's policy allows get_user; the grant's does not.
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_user", Arguments: map[string]any{"userId": "x"}})
			if err != nil || !res.IsError || !strings.Contains(callText(res), "get_user") {
				t.Errorf("get_user under the grant's policy = %v, %v; want a denial", res, err)
			}
			res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_groups"})
			if err != nil || res.IsError {
				t.Errorf("list_groups (allowed by both) = %v, %v; want it allowed", res, err)
			}
			// The grant's default allow does not open what the server denies.
			res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "create_group", Arguments: map[string]any{"name": "x"}})
			if err != nil || !res.IsError {
				t.Errorf("create_group (denied by the server) = %v, %v; want a denial", res, err)
			}
		})
	}
	if n := s.sim.Calls("get_user"); n != 0 {
		t.Errorf("get_user reached the upstream %d times", n)
	}
}

// TestSSESessionBinding opens a legacy SSE session with one grant and posts
// to it with another: refused, and nothing reaches the upstream.
func TestSSESessionBinding(t *testing.T) {
	s := startSecure(t, `"grants"`)
	a, b := s.grant("sse-a", "okta", ""), s.grant("sse-b", "okta", "")
	req, _ := http.NewRequest("GET", s.base+"/sse/okta", nil)
	req.Header.Set("Authorization", "Bearer "+a)
	req.Header.Set("Accept", "text/event-stream")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("open SSE stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	var endpoint string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if e, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = e
			break
		}
	}
	if endpoint == "" {
		t.Fatal("no endpoint event")
	}
	before := s.rec.requests.Load()
	r := s.do("POST", s.base+endpoint, map[string]string{"Authorization": "Bearer " + b}, initBody)
	if r.code != http.StatusForbidden {
		t.Fatalf("POST with another grant: %d %s; want 403", r.code, r.body)
	}
	if n := s.rec.requests.Load() - before; n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	if r := s.do("POST", s.base+endpoint, map[string]string{"Authorization": "Bearer " + a}, initBody); r.code/100 != 2 {
		t.Errorf("POST with the session's own grant: %d %s", r.code, r.body)
	}
}
