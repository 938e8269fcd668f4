package oauth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/internal/oauth"
	"github.com/toolgate/toolgate/internal/oauth/oauthtest"
)

// t0 is the tests' epoch: tokens are minted at it and the verifier's clock
// starts there.
var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

const audience = "https://gw.example.com/mcp"

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKeys are generated once per test binary: RSA key generation takes a
// noticeable time under -race.
type testKeys struct {
	rsa, rsa2, other, ec, ed *oauthtest.Key
}

var (
	keysOnce sync.Once
	keysVal  *testKeys
)

func keys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		keysVal = &testKeys{
			rsa:   oauthtest.NewKey(t, "rsa-1", jose.RS256),
			rsa2:  oauthtest.NewKey(t, "rsa-2", jose.RS256),
			other: oauthtest.NewKey(t, "rsa-1", jose.RS256), // same kid as rsa, another key
			ec:    oauthtest.NewKey(t, "ec-1", jose.ES256),
			ed:    oauthtest.NewKey(t, "ed-1", jose.EdDSA),
		}
	})
	if keysVal == nil || keysVal.ed == nil {
		t.Fatal("test key generation failed")
	}
	return keysVal
}

// env is an issuer publishing rsa-1, ec-1 and ed-1, and a verifier for it.
type env struct {
	*testKeys
	srv   *oauthtest.Server
	clock *clock
	v     *oauth.Verifier
}

func newEnv(t *testing.T, mod func(*oauth.Config)) *env {
	t.Helper()
	k := keys(t)
	e := &env{testKeys: k, clock: &clock{t: t0}}
	e.srv = oauthtest.NewServer(t, k.rsa, k.ec, k.ed)
	cfg := oauth.Config{
		Issuer:   e.srv.URL,
		JWKSURL:  e.srv.JWKSURL,
		Audience: audience,
		Now:      e.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := oauth.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	e.v = v
	return e
}

// claims returns a valid token's claims for alice, changed by mod.
func (e *env) claims(mod func(map[string]any)) map[string]any {
	c := e.srv.Claims("alice", audience, t0, 5*time.Minute)
	if mod != nil {
		mod(c)
	}
	return c
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// unsigned returns a token with alg "none".
func unsigned(t *testing.T, claims map[string]any) string {
	t.Helper()
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return b64(`{"alg":"none","typ":"JWT","kid":"rsa-1"}`) + "." + b64(string(p)) + "."
}

// hmacWithPublicKey returns a token signed with HS256 using the PEM of k's
// public key as the secret: the classic algorithm-confusion attack.
func hmacWithPublicKey(t *testing.T, k *oauthtest.Key, claims map[string]any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hk := &oauthtest.Key{ID: k.ID, Alg: jose.HS256}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithHeader("kid", hk.ID))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(claims)
	jws, err := signer.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	e := newEnv(t, nil)
	noKID := &oauthtest.Key{Alg: jose.RS256, Private: e.rsa.Private}
	ecAsRSA := &oauthtest.Key{ID: "rsa-1", Alg: jose.ES256, Private: e.ec.Private}

	tests := []struct {
		name  string
		token func(t *testing.T) string
		want  error // nil: valid
		sub   string
	}{
		{"rsa", func(t *testing.T) string { return e.rsa.Sign(t, e.claims(nil)) }, nil, "alice"},
		{"ec", func(t *testing.T) string { return e.ec.Sign(t, e.claims(nil)) }, nil, "alice"},
		{"ed25519", func(t *testing.T) string { return e.ed.Sign(t, e.claims(nil)) }, nil, "alice"},
		{"no kid", func(t *testing.T) string { return noKID.Sign(t, e.claims(nil)) }, nil, "alice"},
		{"aud array", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["aud"] = []string{"other", audience} }))
		}, nil, "alice"},
		{"aud trailing slash", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["aud"] = audience + "/" }))
		}, nil, "alice"},
		{"expired within leeway", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["exp"] = t0.Add(-30 * time.Second).Unix() }))
		}, nil, "alice"},
		{"nbf within leeway", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["nbf"] = t0.Add(30 * time.Second).Unix() }))
		}, nil, "alice"},
		{"no nbf no iat", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { delete(c, "nbf"); delete(c, "iat") }))
		}, nil, "alice"},

		{"wrong audience", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["aud"] = "https://other.example.com/mcp" }))
		}, oauth.ErrAudience, ""},
		{"audience prefix", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["aud"] = audience + "/okta" }))
		}, oauth.ErrAudience, ""},
		{"no audience", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { delete(c, "aud") }))
		}, oauth.ErrAudience, ""},
		{"wrong issuer", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" }))
		}, oauth.ErrIssuer, ""},
		{"issuer trailing slash", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["iss"] = e.srv.URL + "/" }))
		}, oauth.ErrIssuer, ""},
		{"signed by another key", func(t *testing.T) string { return e.other.Sign(t, e.claims(nil)) }, oauth.ErrSignature, ""},
		{"payload swapped", func(t *testing.T) string {
			good := strings.Split(e.rsa.Sign(t, e.claims(nil)), ".")
			evil := strings.Split(e.rsa.Sign(t, e.claims(func(c map[string]any) { c["sub"] = "admin" })), ".")
			return good[0] + "." + evil[1] + "." + good[2]
		}, oauth.ErrSignature, ""},
		{"expired", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["exp"] = t0.Add(-2 * time.Minute).Unix() }))
		}, oauth.ErrExpired, ""},
		{"expires now less leeway", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["exp"] = t0.Add(-time.Minute).Unix() }))
		}, oauth.ErrExpired, ""},
		{"not yet valid", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["nbf"] = t0.Add(2 * time.Minute).Unix() }))
		}, oauth.ErrNotYetValid, ""},
		{"issued in the future", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["iat"] = t0.Add(2 * time.Minute).Unix() }))
		}, oauth.ErrNotYetValid, ""},
		{"missing exp", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { delete(c, "exp") }))
		}, oauth.ErrMissingClaim, ""},
		{"missing sub", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { delete(c, "sub") }))
		}, oauth.ErrMissingClaim, ""},
		{"empty sub", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["sub"] = "" }))
		}, oauth.ErrMissingClaim, ""},
		{"sub in other case", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["SUB"] = c["sub"]; delete(c, "sub") }))
		}, oauth.ErrMissingClaim, ""},
		{"alg none", func(t *testing.T) string { return unsigned(t, e.claims(nil)) }, oauth.ErrAlgorithm, ""},
		{"HS256 with the public key", func(t *testing.T) string {
			return hmacWithPublicKey(t, e.rsa, e.claims(nil))
		}, oauth.ErrAlgorithm, ""},
		{"alg does not fit the key", func(t *testing.T) string { return ecAsRSA.Sign(t, e.claims(nil)) }, oauth.ErrUnknownKey, ""},
		{"unknown kid", func(t *testing.T) string { return e.rsa2.Sign(t, e.claims(nil)) }, oauth.ErrUnknownKey, ""},
		{"empty", func(t *testing.T) string { return "" }, oauth.ErrMalformed, ""},
		{"garbage", func(t *testing.T) string { return "not a token" }, oauth.ErrMalformed, ""},
		{"four parts", func(t *testing.T) string { return e.rsa.Sign(t, e.claims(nil)) + ".x" }, oauth.ErrMalformed, ""},
		{"JSON serialization", func(t *testing.T) string {
			p := strings.Split(e.rsa.Sign(t, e.claims(nil)), ".")
			return fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, p[0], p[1], p[2])
		}, oauth.ErrMalformed, ""},
		{"too long", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["pad"] = strings.Repeat("x", oauth.MaxTokenBytes) }))
		}, oauth.ErrMalformed, ""},
		{"claims not an object", func(t *testing.T) string { return e.rsa.Sign(t, []string{"sub"}) }, oauth.ErrMalformed, ""},
		{"duplicate claim", func(t *testing.T) string {
			c, _ := json.Marshal(e.claims(nil))
			return e.rsa.Sign(t, json.RawMessage(`{"sub":"admin",`+string(c[1:])))
		}, oauth.ErrMalformed, ""},
		{"aud a number", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["aud"] = 7 }))
		}, oauth.ErrMalformed, ""},
		{"exp a string", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["exp"] = "tomorrow" }))
		}, oauth.ErrMalformed, ""},
		{"exp huge", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["exp"] = 1e300 }))
		}, oauth.ErrMalformed, ""},
		{"scope a number", func(t *testing.T) string {
			return e.rsa.Sign(t, e.claims(func(c map[string]any) { c["scope"] = 1 }))
		}, oauth.ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token(t)
			c, err := e.v.Verify(t.Context(), tok)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify(%s) = %v; want success", tt.name, err)
				}
				if c.Subject != tt.sub {
					t.Errorf("Verify(%s).Subject = %q; want %q", tt.name, c.Subject, tt.sub)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify(%s) = %v, %v; want %v", tt.name, c, err, tt.want)
			}
			t.Logf("Verify(%s) = %v", tt.name, err)
			if !errors.Is(err, oauth.ErrInvalidToken) {
				t.Errorf("Verify(%s) = %v; does not match ErrInvalidToken", tt.name, err)
			}
			if got, want := oauth.Challenge("https://m", err), `Bearer resource_metadata="https://m", error="invalid_token"`; got != want {
				t.Errorf("Challenge(%v) = %s; want %s", err, got, want)
			}
			if c != nil {
				t.Errorf("Verify(%s) claims = %+v; want nil", tt.name, c)
			}
		})
	}
}

// TestErrorsClipped checks that what an unverified token says reaches the
// error, for the log, only in part.
func TestErrorsClipped(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("k", 10000)
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"kid", (&oauthtest.Key{ID: long, Alg: jose.ES256, Private: e.ec.Private}).Sign(t, e.claims(nil)), oauth.ErrUnknownKey},
		{"alg", b64(`{"alg":"`+long+`"}`) + "." + b64(`{}`) + ".", oauth.ErrAlgorithm},
		{"header", b64(`{"alg":"ES256","`+long+`":1,"`+long+`":2}`) + "." + b64(`{}`) + ".", oauth.ErrMalformed},
	}
	for _, tt := range tests {
		_, err := e.v.Verify(t.Context(), tt.token)
		if !errors.Is(err, tt.want) || len(err.Error()) > 300 {
			t.Errorf("Verify(long %s) = %.300v (%d bytes); want %v in at most 300 bytes", tt.name, err, len(fmt.Sprint(err)), tt.want)
		}
	}
}

func TestVerifyClaims(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.ec.Sign(t, e.claims(func(c map[string]any) { c["scope"] = "mcp:tools  mcp:admin" }))
	c, err := e.v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.Issuer != e.srv.URL || c.ClientID != "test-client" || c.ID != "jti-alice" || c.KeyID != "ec-1" {
		t.Errorf("Verify = %+v; want sub alice, iss %s, client_id test-client, jti jti-alice, kid ec-1", c, e.srv.URL)
	}
	if got, want := fmt.Sprint(c.Scopes), "[mcp:tools mcp:admin]"; got != want {
		t.Errorf("Scopes = %s; want %s", got, want)
	}
	if got, want := fmt.Sprint(c.Audience), "["+audience+"]"; got != want {
		t.Errorf("Audience = %s; want %s", got, want)
	}
	if !c.Expiry.Equal(t0.Add(5*time.Minute)) || !c.IssuedAt.Equal(t0) {
		t.Errorf("Expiry, IssuedAt = %v, %v; want %v, %v", c.Expiry, c.IssuedAt, t0.Add(5*time.Minute), t0)
	}
	if c.Raw["client_id"] != "test-client" {
		t.Errorf("Raw = %v; want client_id test-client", c.Raw)
	}

	// scp and azp, as some issuers send them.
	tok = e.rsa.Sign(t, e.claims(func(c map[string]any) {
		delete(c, "scope")
		delete(c, "client_id")
		c["scp"] = []string{"a", "b"}
		c["azp"] = "azp-client"
	}))
	c, err = e.v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Scopes, " ", c.ClientID); got != "[a b] azp-client" {
		t.Errorf("Scopes, ClientID = %s; want [a b] azp-client", got)
	}
}

// TestVerifyCached checks the cache of verified tokens: a hit still expires,
// and a key withdrawn from the key set stops working at the next fetch.
func TestVerifyCached(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.ec.Sign(t, e.claims(nil))
	c1, err := e.v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := e.v.Verify(t.Context(), tok)
	if err != nil || c2 != c1 {
		t.Fatalf("Verify(same token again) = %p, %v; want the cached %p", c2, err, c1)
	}

	e.clock.Advance(5*time.Minute + oauth.DefaultLeeway)
	if _, err := e.v.Verify(t.Context(), tok); !errors.Is(err, oauth.ErrExpired) {
		t.Errorf("Verify(cached token, past exp) = %v; want ErrExpired", err)
	}

	e.clock.Advance(-5 * time.Minute)
	if _, err := e.v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("Verify(cached token, before exp) = %v", err)
	}
	e.srv.Publish(e.rsa)
	if err := e.v.FetchKeys(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.Verify(t.Context(), tok); !errors.Is(err, oauth.ErrUnknownKey) {
		t.Errorf("Verify(cached token, key withdrawn) = %v; want ErrUnknownKey", err)
	}
}

func TestLeeway(t *testing.T) {
	tests := []struct {
		leeway time.Duration
		exp    time.Duration // relative to now
		want   error
	}{
		{0, -59 * time.Second, nil}, // zero means DefaultLeeway
		{0, -61 * time.Second, oauth.ErrExpired},
		{-1, time.Second, nil}, // negative means none
		{-1, 0, oauth.ErrExpired},
		{10 * time.Second, -9 * time.Second, nil},
		{10 * time.Second, -10 * time.Second, oauth.ErrExpired},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("leeway %v exp %v", tt.leeway, tt.exp)
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(c *oauth.Config) { c.Leeway = tt.leeway })
			tok := e.rsa.Sign(t, e.claims(func(c map[string]any) { c["exp"] = t0.Add(tt.exp).Unix() }))
			if _, err := e.v.Verify(t.Context(), tok); !errors.Is(err, tt.want) {
				t.Errorf("Verify(%s) = %v; want %v", name, err, tt.want)
			}
		})
	}
}

func TestAlgorithms(t *testing.T) {
	e := newEnv(t, func(c *oauth.Config) { c.Algorithms = []string{"ES256"} })
	if _, err := e.v.Verify(t.Context(), e.rsa.Sign(t, e.claims(nil))); !errors.Is(err, oauth.ErrAlgorithm) {
		t.Errorf("Verify(RS256 token, ES256 only) = %v; want ErrAlgorithm", err)
	}
	if _, err := e.v.Verify(t.Context(), e.ec.Sign(t, e.claims(nil))); err != nil {
		t.Errorf("Verify(ES256 token, ES256 only) = %v; want success", err)
	}
}

func TestNewVerifier(t *testing.T) {
	valid := oauth.Config{Issuer: "https://id.example.com", JWKSURL: "https://id.example.com/jwks", Audience: audience}
	tests := []struct {
		name string
		mod  func(*oauth.Config)
		want []string // substrings of the error; none: valid
	}{
		{"valid", func(*oauth.Config) {}, nil},
		{"loopback http", func(c *oauth.Config) { c.JWKSURL = "http://127.0.0.1:8080/jwks" }, nil},
		{"localhost http", func(c *oauth.Config) { c.JWKSURL = "http://localhost/jwks" }, nil},
		{"ipv6 loopback http", func(c *oauth.Config) { c.JWKSURL = "http://[::1]:9/jwks" }, nil},
		{"empty", func(c *oauth.Config) { *c = oauth.Config{} },
			[]string{"issuer is required", "audience is required", "jwks url is required"}},
		{"remote http", func(c *oauth.Config) { c.JWKSURL = "http://id.example.com/jwks" }, []string{"must use https"}},
		{"relative", func(c *oauth.Config) { c.JWKSURL = "/jwks" }, []string{"not absolute"}},
		{"none and HS256", func(c *oauth.Config) { c.Algorithms = []string{"RS256", "none", "HS256"} },
			[]string{`"none" not allowed`, `"HS256" not allowed`}},
		{"negative", func(c *oauth.Config) {
			c.FetchTimeout, c.MinRefreshInterval, c.MaxKeySetAge, c.MaxKeySetBytes = -1, -1, -1, -1
		}, []string{"fetch timeout", "min refresh interval", "max key set age", "max key set bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.mod(&cfg)
			v, err := oauth.NewVerifier(cfg)
			if len(tt.want) == 0 {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier(%s) = %v; want success", tt.name, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewVerifier(%s) succeeded; want error", tt.name)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewVerifier(%s) = %v; want it to mention %q", tt.name, err, w)
				}
			}
		})
	}
}

// TestRotation publishes a new key while tokens signed with it are already
// arriving: they are refused until the refresh interval allows a fetch, and
// accepted after it.
func TestRotation(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	if _, err := e.v.Verify(ctx, e.rsa.Sign(t, e.claims(nil))); err != nil {
		t.Fatal(err)
	}
	tok := e.rsa2.Sign(t, e.claims(nil))
	if _, err := e.v.Verify(ctx, tok); !errors.Is(err, oauth.ErrUnknownKey) {
		t.Fatalf("Verify(new key, not published) = %v; want ErrUnknownKey", err)
	}
	if got := e.srv.Fetches(); got != 1 {
		t.Errorf("fetches = %d; want 1 (within the refresh interval)", got)
	}

	e.srv.Publish(e.rsa, e.rsa2)
	if _, err := e.v.Verify(ctx, tok); !errors.Is(err, oauth.ErrUnknownKey) {
		t.Fatalf("Verify(new key, refresh not yet allowed) = %v; want ErrUnknownKey", err)
	}
	e.clock.Advance(oauth.DefaultMinRefreshInterval)
	c, err := e.v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("Verify(new key, after refresh) = %v; want success", err)
	}
	if c.KeyID != "rsa-2" {
		t.Errorf("KeyID = %q; want rsa-2", c.KeyID)
	}
	if got := e.srv.Fetches(); got != 2 {
		t.Errorf("fetches = %d; want 2", got)
	}
	// The old key still works while published.
	if _, err := e.v.Verify(ctx, e.rsa.Sign(t, e.claims(nil))); err != nil {
		t.Errorf("Verify(old key during rotation) = %v; want success", err)
	}

	// Once the old key is withdrawn and the cached set expires, its tokens
	// are refused.
	e.srv.Publish(e.rsa2)
	e.clock.Advance(oauth.DefaultMaxKeySetAge)
	if _, err := e.v.Verify(ctx, e.rsa.Sign(t, e.claims(nil))); !errors.Is(err, oauth.ErrUnknownKey) {
		t.Errorf("Verify(withdrawn key) = %v; want ErrUnknownKey", err)
	}
}

// TestUnknownKIDFlood checks that tokens naming random kids cost at most one
// fetch per refresh interval, however many arrive at once.
func TestUnknownKIDFlood(t *testing.T) {
	e := newEnv(t, nil)
	flood := func() {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				k := &oauthtest.Key{ID: fmt.Sprintf("bogus-%d", i), Alg: jose.ES256, Private: e.ec.Private}
				tok := k.Sign(t, e.claims(nil))
				if _, err := e.v.Verify(t.Context(), tok); !errors.Is(err, oauth.ErrUnknownKey) {
					t.Errorf("Verify(kid bogus-%d) = %v; want ErrUnknownKey", i, err)
				}
			})
		}
		wg.Wait()
	}
	flood()
	if got := e.srv.Fetches(); got != 1 {
		t.Errorf("fetches after first flood = %d; want 1", got)
	}
	e.clock.Advance(oauth.DefaultMinRefreshInterval)
	flood()
	if got := e.srv.Fetches(); got != 2 {
		t.Errorf("fetches after second flood = %d; want 2", got)
	}
}

func TestConcurrentFirstFetch(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.rsa.Sign(t, e.claims(nil))
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := e.v.Verify(t.Context(), tok); err != nil {
				t.Errorf("Verify = %v; want success", err)
			}
		})
	}
	wg.Wait()
	if got := e.srv.Fetches(); got != 1 {
		t.Errorf("fetches = %d; want 1", got)
	}
}

func TestKeySetDown(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	tok := e.rsa.Sign(t, e.claims(nil))
	_, err := e.v.Verify(t.Context(), tok)
	if !errors.Is(err, oauth.ErrKeySetUnavailable) || errors.Is(err, oauth.ErrInvalidToken) {
		t.Fatalf("Verify(key set down) = %v; want ErrKeySetUnavailable and not ErrInvalidToken", err)
	}
	if !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), e.srv.JWKSURL) {
		t.Errorf("Verify(key set down) = %v; want it to name the URL and the status", err)
	}
	if got := oauth.StatusCode(err); got != http.StatusServiceUnavailable {
		t.Errorf("StatusCode(%v) = %d; want 503", err, got)
	}

	// A failed fetch is not retried within the interval.
	if _, err := e.v.Verify(t.Context(), tok); !errors.Is(err, oauth.ErrKeySetUnavailable) {
		t.Errorf("Verify(again) = %v; want ErrKeySetUnavailable", err)
	}
	if got := e.srv.Fetches(); got != 1 {
		t.Errorf("fetches = %d; want 1", got)
	}

	e.srv.Override(nil)
	e.clock.Advance(oauth.DefaultMinRefreshInterval)
	if _, err := e.v.Verify(t.Context(), tok); err != nil {
		t.Errorf("Verify(key set back) = %v; want success", err)
	}
}

// TestStaleKeySetKept checks that a cached key set past its age is still
// used while the issuer is down.
func TestStaleKeySetKept(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.v.FetchKeys(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.srv.Override(http.NotFoundHandler())
	e.clock.Advance(oauth.DefaultMaxKeySetAge)
	tok := e.rsa.Sign(t, e.claims(func(c map[string]any) { c["exp"] = e.clock.Now().Add(time.Minute).Unix() }))
	if _, err := e.v.Verify(t.Context(), tok); err != nil {
		t.Errorf("Verify(stale key set, issuer down) = %v; want success", err)
	}
	if got := e.srv.Fetches(); got != 2 {
		t.Errorf("fetches = %d; want 2", got)
	}
}

func TestKeySetUnreachable(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL + "/jwks"
	hs.Close()
	v, err := oauth.NewVerifier(oauth.Config{Issuer: "https://id.example.com", JWKSURL: url, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	err = v.FetchKeys(t.Context())
	if !errors.Is(err, oauth.ErrKeySetUnavailable) {
		t.Errorf("FetchKeys(closed port) = %v; want ErrKeySetUnavailable", err)
	}
}

func TestKeySetTimeout(t *testing.T) {
	e := newEnv(t, func(c *oauth.Config) { c.FetchTimeout = 50 * time.Millisecond })
	e.srv.Override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	_, err := e.v.Verify(t.Context(), e.rsa.Sign(t, e.claims(nil)))
	if !errors.Is(err, oauth.ErrKeySetUnavailable) {
		t.Errorf("Verify(key set hangs) = %v; want ErrKeySetUnavailable", err)
	}
}

// TestFetchOutlivesCaller checks that a caller hanging up does not fail the
// fetch it started, and that a caller waiting for a fetch stops waiting
// when its context ends.
func TestFetchOutlivesCaller(t *testing.T) {
	e := newEnv(t, nil)
	started, release := make(chan struct{}), make(chan struct{})
	e.srv.Override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		e.srv.Override(nil)
		http.Redirect(w, r, r.URL.Path, http.StatusFound) // served by the keys this time
	}))
	tok := e.rsa.Sign(t, e.claims(nil))

	ctx1, cancel1 := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := e.v.Verify(ctx1, tok)
		done <- err
	}()
	<-started
	cancel1()

	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := e.v.Verify(ctx2, tok); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify(waiting, context canceled) = %v; want context.Canceled", err)
	}

	close(release)
	if err := <-done; err != nil {
		t.Errorf("Verify(fetcher, context canceled during fetch) = %v; want success", err)
	}
	if _, err := e.v.Verify(t.Context(), tok); err != nil {
		t.Errorf("Verify(after fetch) = %v; want success", err)
	}
}

func TestKeySetBad(t *testing.T) {
	k := keys(t)
	jwk := func(key jose.JSONWebKey) string {
		b, err := json.Marshal(key)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	pub := jwk(k.rsa.JWK())
	many := strings.TrimSuffix(strings.Repeat(pub+",", 101), ",")
	tests := []struct {
		name string
		body string
		mod  func(*oauth.Config)
		want string // substring of the error; empty: the rsa-1 token verifies
	}{
		{"not JSON", "<html>", nil, "decode key set"},
		{"no keys", `{"keys":[]}`, nil, "no keys"},
		{"keys missing", `{"Keys":[` + pub + `]}`, nil, "no keys"},
		{"symmetric only", `{"keys":[{"kty":"oct","kid":"rsa-1","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`, nil, "no usable signing key"},
		{"private only", `{"keys":[` + jwk(jose.JSONWebKey{Key: k.rsa.Private, KeyID: "rsa-1"}) + `]}`, nil, "no usable signing key"},
		{"encryption only", `{"keys":[` + strings.Replace(pub, `"use":"sig"`, `"use":"enc"`, 1) + `]}`, nil, "no usable signing key"},
		{"too many keys", `{"keys":[` + many + `]}`, nil, "more than 100"},
		{"oversized", `{"keys":[` + pub + `]}` + strings.Repeat(" ", 4096), func(c *oauth.Config) { c.MaxKeySetBytes = 4096 }, "more than 4096 bytes"},
		{"oversized default", `{"keys":[` + pub + `]}` + strings.Repeat(" ", oauth.DefaultMaxKeySetBytes), nil, "more than 1048576 bytes"},
		{"unknown kinds ignored", `{"keys":[{"kty":"XYZ","kid":"x"},{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},` + pub + `]}`, nil, ""},
		{"at the size limit", `{"keys":[` + pub + `]}`, func(c *oauth.Config) { c.MaxKeySetBytes = int64(len(`{"keys":[` + pub + `]}`)) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.mod)
			e.srv.Override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tt.body))
			}))
			_, err := e.v.Verify(t.Context(), e.rsa.Sign(t, e.claims(nil)))
			if tt.want == "" {
				if err != nil {
					t.Errorf("Verify(%s) = %v; want success", tt.name, err)
				}
				return
			}
			if !errors.Is(err, oauth.ErrKeySetUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify(%s) = %v; want ErrKeySetUnavailable mentioning %q", tt.name, err, tt.want)
			}
		})
	}
}

// TestRedirectDowngrade checks that the default client does not follow a
// redirect from the key set URL to plain http on another host. The refusal
// happens before any request is sent.
func TestRedirectDowngrade(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://jwks.example.invalid/jwks", http.StatusFound)
	}))
	err := e.v.FetchKeys(t.Context())
	if !errors.Is(err, oauth.ErrKeySetUnavailable) || !strings.Contains(err.Error(), "must use https") {
		t.Errorf("FetchKeys(redirect to http) = %v; want ErrKeySetUnavailable mentioning https", err)
	}
}
