// Package oauth makes the gateway an OAuth 2.1 resource server, the
// alternative to grants (DESIGN.md §3–4): agents present JWT access tokens
// issued by the operator's authorization server, and the token's subject
// becomes the user identity that limits with scope "user" and the audit
// records use.
//
// A Verifier checks a token's signature against the issuer's JSON Web Key Set
// (JWKS), which it fetches on first use, caches, and fetches again when a
// token names a key it does not know (rate-limited) or when the cached set is
// older than Config.MaxKeySetAge. It then checks the claims: iss exactly,
// aud containing the gateway's resource URI, exp present and in the future,
// nbf and iat not in the future, sub present.
//
// Metadata serves the RFC 9728 protected resource metadata document that
// tells a client which authorization server to use, and Challenge builds the
// RFC 6750 WWW-Authenticate value of a refused request, which points to that
// document. Require is middleware that checks the bearer token of each
// request and answers a refusal with that challenge.
//
// # Errors
//
// Errors keep two audiences apart. The operator's log gets the exact reason:
// every error of Verify that is the token's fault matches ErrInvalidToken
// under errors.Is, and also exactly one of
//
//	ErrMalformed     not a compact JWS, too long, bad base64 or JSON, bad claims
//	ErrAlgorithm     the alg header is not in Config.Algorithms (none, HS256, …)
//	ErrUnknownKey    no key in the JWKS has the token's kid, even after a refresh,
//	                 or none fits the token's alg
//	ErrSignature     the signature does not verify with the named key
//	ErrIssuer        iss is not Config.Issuer
//	ErrAudience      aud does not contain Config.Audience
//	ErrExpired       exp is not after now (less the leeway)
//	ErrNotYetValid   nbf or iat is after now (plus the leeway)
//	ErrMissingClaim  exp or sub is absent
//
// The client only ever sees error="invalid_token" (HTTP 401) for all of
// these. A key set that cannot be fetched is not the token's fault: that
// error matches ErrKeySetUnavailable, not ErrInvalidToken, and Require
// answers it with 503.
//
// # Security
//
// Only the asymmetric algorithms of Config.Algorithms are accepted; "none"
// and the HMAC algorithms cannot be configured, so a token signed with a
// public key as an HMAC secret is refused before any key is looked up. Keys
// come only from Config.JWKSURL: the jwk, jku, x5u and x5c headers of a token
// are never used. Symmetric keys and keys with private parts in the key set
// are ignored, and a key whose own alg or use disagrees with the token is
// not tried. The typ header is not checked, since many issuers send "JWT"
// rather than RFC 9068's "at+jwt"; an OpenID Connect ID token is refused
// all the same, because its aud is the client's ID, not the gateway.
//
// # Cost
//
// Checking a signature costs about 0.1 ms. Verify remembers up to 4096
// tokens that passed, by SHA-256 digest, so that a client presenting the same
// token on every request pays for it once; a remembered token is checked
// for expiry at each use and forgotten when the key set is fetched anew.
package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// ErrInvalidToken matches, under errors.Is, every error of Verify that is the
// token's fault; each such error also matches exactly one of the reasons
// listed in the package documentation. A client is told only
// "invalid_token".
var ErrInvalidToken = errors.New("invalid token")

// The reasons a token is refused, for the operator's log. Each matches
// ErrInvalidToken too.
var (
	ErrMalformed    error = invalid("malformed token")
	ErrAlgorithm    error = invalid("signature algorithm not allowed")
	ErrUnknownKey   error = invalid("unknown signing key")
	ErrSignature    error = invalid("bad signature")
	ErrIssuer       error = invalid("wrong issuer")
	ErrAudience     error = invalid("wrong audience")
	ErrExpired      error = invalid("token expired")
	ErrNotYetValid  error = invalid("token not yet valid")
	ErrMissingClaim error = invalid("missing claim")
)

// ErrKeySetUnavailable matches the errors of Verify that come from fetching
// the key set: the endpoint is down or slow, answers other than 200, sends
// more than Config.MaxKeySetBytes, or sends no usable key. It does not match
// ErrInvalidToken.
var ErrKeySetUnavailable = errors.New("key set unavailable")

// reason is a refusal that is the token's fault.
type reason struct{ msg string }

func invalid(msg string) *reason { return &reason{msg} }

func (r *reason) Error() string { return r.msg }

// Is makes every reason match ErrInvalidToken.
func (r *reason) Is(target error) bool { return target == ErrInvalidToken }

// Defaults for the zero fields of Config.
const (
	DefaultLeeway             = time.Minute
	DefaultFetchTimeout       = 10 * time.Second
	DefaultMinRefreshInterval = 10 * time.Second
	DefaultMaxKeySetAge       = time.Hour
	DefaultMaxKeySetBytes     = 1 << 20
)

// MaxTokenBytes bounds the length of a token Verify looks at; longer ones are
// ErrMalformed.
const MaxTokenBytes = 64 << 10

// maxKeys bounds the keys in a key set, so that a token without a kid, which
// is tried against every key that fits its alg, costs a bounded amount.
const maxKeys = 100

// DefaultAlgorithms are the signature algorithms accepted when
// Config.Algorithms is empty. They are also the only ones that can be
// configured.
var DefaultAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Config configures a Verifier. Issuer, JWKSURL and Audience are required;
// every other zero field means its default.
type Config struct {
	// Issuer is the authorization server's issuer identifier; a token's iss
	// must equal it exactly.
	Issuer string
	// JWKSURL is where the issuer publishes its signing keys. It must be an
	// https URL, or http to a loopback address (for tests and development).
	JWKSURL string
	// Audience is the gateway's resource URI (RFC 8707); a token's aud, a
	// string or an array, must contain it, compared as by
	// oauthex.MatchesResource (exactly, except that a trailing slash is
	// ignored).
	Audience string
	// Algorithms are the accepted signature algorithms, a subset of
	// DefaultAlgorithms (its default).
	Algorithms []string
	// Leeway is the clock skew tolerated in exp, nbf and iat:
	// DefaultLeeway if zero, none if negative.
	Leeway time.Duration
	// HTTPClient fetches the key set. If nil, a client with a FetchTimeout
	// timeout that refuses redirects to anything JWKSURL could not be.
	HTTPClient *http.Client
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// FetchTimeout bounds one fetch of the key set; DefaultFetchTimeout if
	// zero.
	FetchTimeout time.Duration
	// MinRefreshInterval is the least time between two fetches of the key
	// set, so that tokens naming unknown keys, or an issuer that is down,
	// cannot make the gateway hammer the issuer; DefaultMinRefreshInterval if
	// zero.
	MinRefreshInterval time.Duration
	// MaxKeySetAge is how long a fetched key set is used before it is
	// fetched again (the old one is kept while fetching fails);
	// DefaultMaxKeySetAge if zero.
	MaxKeySetAge time.Duration
	// MaxKeySetBytes bounds the size of the key set document;
	// DefaultMaxKeySetBytes if zero.
	MaxKeySetBytes int64
}

// Verifier verifies access tokens. It is safe for concurrent use. The zero
// value is not usable: call NewVerifier.
type Verifier struct {
	issuer, audience string
	algs             []jose.SignatureAlgorithm
	leeway           time.Duration
	now              func() time.Time
	keys             *keyCache
	verified         verified
}

// NewVerifier checks cfg and returns a Verifier. It does not fetch the key
// set: the first Verify does. The error lists every problem in cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	var errs []error
	if cfg.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	if cfg.Audience == "" {
		errs = append(errs, errors.New("audience is required"))
	}
	if err := checkKeySetURL(cfg.JWKSURL); err != nil {
		errs = append(errs, err)
	}
	names := cfg.Algorithms
	if len(names) == 0 {
		names = DefaultAlgorithms
	}
	var algs []jose.SignatureAlgorithm
	for _, a := range names {
		if !slices.Contains(DefaultAlgorithms, a) {
			errs = append(errs, fmt.Errorf("algorithm %q not allowed (allowed: %s)", a, strings.Join(DefaultAlgorithms, ", ")))
			continue
		}
		algs = append(algs, jose.SignatureAlgorithm(a))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"fetch timeout", cfg.FetchTimeout},
		{"min refresh interval", cfg.MinRefreshInterval},
		{"max key set age", cfg.MaxKeySetAge},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if cfg.MaxKeySetBytes < 0 {
		errs = append(errs, fmt.Errorf("max key set bytes %d is negative", cfg.MaxKeySetBytes))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("oauth config: %w", errors.Join(errs...))
	}

	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	kc := &keyCache{
		url:         cfg.JWKSURL,
		client:      cfg.HTTPClient,
		now:         now,
		timeout:     orDefault(cfg.FetchTimeout, DefaultFetchTimeout),
		minInterval: orDefault(cfg.MinRefreshInterval, DefaultMinRefreshInterval),
		maxAge:      orDefault(cfg.MaxKeySetAge, DefaultMaxKeySetAge),
		maxBytes:    orDefault(cfg.MaxKeySetBytes, DefaultMaxKeySetBytes),
	}
	if kc.client == nil {
		kc.client = &http.Client{
			Timeout: kc.timeout,
			// A redirect must not downgrade the fetch to plain http.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 10 {
					return errors.New("stopped after 10 redirects")
				}
				return checkKeySetURL(req.URL.String())
			},
		}
	}
	return &Verifier{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		algs:     algs,
		leeway:   leeway,
		now:      now,
		keys:     kc,
	}, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// checkKeySetURL refuses key set URLs an attacker on the network could
// answer.
func checkKeySetURL(s string) error {
	if s == "" {
		return errors.New("jwks url is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("jwks url: %w", err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("jwks url %q is not absolute", s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("jwks url %q must use https (http only to a loopback address)", s)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Claims are what the gateway uses from a verified token.
type Claims struct {
	// Subject (sub) is the user identity: the key of limits with scope
	// "user" and the user of audit records. Never empty.
	Subject string
	// Issuer (iss) equals Config.Issuer.
	Issuer string
	// Audience (aud) contains Config.Audience.
	Audience []string
	// Scopes come from scope (a space-separated string, RFC 9068) or, if it
	// is absent, scp (which some issuers send); either may also be an array
	// of strings.
	Scopes []string
	// ClientID comes from client_id (RFC 9068) or, if it is absent, azp.
	ClientID string
	// Expiry (exp) is never zero.
	Expiry time.Time
	// IssuedAt (iat) is zero if the token has none.
	IssuedAt time.Time
	// ID (jti) is empty if the token has none.
	ID string
	// KeyID is the kid of the key that signed the token; empty if the token
	// named none.
	KeyID string
	// Raw holds every claim, as go-jose's JSON decoder (case-sensitive,
	// duplicate names refused) decodes into any: numbers are float64.
	Raw map[string]any
}

// Verify verifies token, a JWT access token without the "Bearer " prefix,
// and returns its claims, which the caller must not modify: Verify returns
// the same Claims again for the same token while it stays valid. It may fetch the key set, waiting at most
// Config.FetchTimeout, or less if ctx ends first. Its errors match
// ErrInvalidToken and one reason, or ErrKeySetUnavailable, or are ctx's
// error; see the package documentation.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(token), MaxTokenBytes)
	}
	ks, err := v.keys.get(ctx)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	if c := v.verified.get(sum, ks); c != nil {
		if now := v.now(); v.expired(c.Expiry, now) {
			return nil, fmt.Errorf("%w: exp %s, now %s, leeway %v (sub %q)", ErrExpired, stamp(c.Expiry), stamp(now), v.leeway, c.Subject)
		}
		return c, nil
	}
	jws, err := jose.ParseSignedCompact(token, v.algs)
	if err != nil {
		if e, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, fmt.Errorf("%w: %q", ErrAlgorithm, clip(string(e.Got)))
		}
		return nil, fmt.Errorf("%w: %s", ErrMalformed, clip(err.Error()))
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: %d signatures", ErrMalformed, len(jws.Signatures))
	}
	h := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(h.Algorithm)
	cands := ks.candidates(h.KeyID, alg)
	if len(cands) == 0 {
		ks, err = v.keys.refresh(ctx, ks)
		if err != nil {
			return nil, err
		}
		cands = ks.candidates(h.KeyID, alg)
	}
	if len(cands) == 0 {
		if h.KeyID == "" {
			return nil, fmt.Errorf("%w: no kid, and no key for alg %s", ErrUnknownKey, alg)
		}
		return nil, fmt.Errorf("%w: no key %q for alg %s", ErrUnknownKey, clip(h.KeyID), alg)
	}
	var payload []byte
	for _, k := range cands {
		if payload, err = jws.Verify(k); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: kid %q, alg %s: %v", ErrSignature, clip(h.KeyID), alg, err)
	}
	c, err := v.check(payload)
	if err != nil {
		return nil, err
	}
	c.KeyID = h.KeyID
	v.verified.put(sum, c, ks, func(c *Claims) bool { return v.expired(c.Expiry, v.now()) })
	return c, nil
}

// expired reports whether a token expiring at exp is expired at now.
func (v *Verifier) expired(exp, now time.Time) bool {
	return !now.Add(-v.leeway).Before(exp)
}

// maxVerified bounds the entries of a Verifier's verified cache.
const maxVerified = 4096

// verified remembers the tokens that passed, by digest, so that a client
// presenting the same token on every request pays for its signature once.
// An entry counts only while the key set it was verified with is the
// current one, so a withdrawn key stops working at the next fetch, and exp is
// checked again on every hit (nbf and iat were already in the past).
type verified struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedEntry // guarded by mu
}

type verifiedEntry struct {
	claims *Claims
	keys   *keySet
}

func (vc *verified) get(sum [sha256.Size]byte, ks *keySet) *Claims {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	e, ok := vc.m[sum]
	if !ok || e.keys != ks {
		return nil
	}
	return e.claims
}

// put adds an entry. When the cache is full it drops the entries that are
// expired or were verified with an older key set, and if that is not
// enough, all of them.
func (vc *verified) put(sum [sha256.Size]byte, c *Claims, ks *keySet, expired func(*Claims) bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.m == nil {
		vc.m = make(map[[sha256.Size]byte]verifiedEntry)
	}
	if len(vc.m) >= maxVerified {
		for k, e := range vc.m {
			if e.keys != ks || expired(e.claims) {
				delete(vc.m, k)
			}
		}
		if len(vc.m) >= maxVerified {
			clear(vc.m)
		}
	}
	vc.m[sum] = verifiedEntry{c, ks}
}

// check decodes and checks the claims of a token whose signature verified.
func (v *Verifier) check(payload []byte) (*Claims, error) {
	var std jwt.Claims
	var raw map[string]any
	if err := josejson.Unmarshal(payload, &std); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if err := josejson.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	scopes, err := scopesOf(raw)
	if err != nil {
		return nil, err
	}
	clientID, err := clientIDOf(raw)
	if err != nil {
		return nil, err
	}

	// Claims are checked in a fixed order so that a token with several
	// problems always logs the same one.
	if std.Issuer != v.issuer {
		return nil, fmt.Errorf("%w: iss %q, want %q (sub %q)", ErrIssuer, std.Issuer, v.issuer, std.Subject)
	}
	if !oauthex.MatchesResource(std.Audience, v.audience) {
		return nil, fmt.Errorf("%w: aud %q does not contain %q (sub %q)", ErrAudience, []string(std.Audience), v.audience, std.Subject)
	}
	if std.Expiry == nil {
		return nil, fmt.Errorf("%w: exp (sub %q)", ErrMissingClaim, std.Subject)
	}
	now := v.now()
	exp := std.Expiry.Time()
	if v.expired(exp, now) {
		return nil, fmt.Errorf("%w: exp %s, now %s, leeway %v (sub %q)", ErrExpired, stamp(exp), stamp(now), v.leeway, std.Subject)
	}
	if std.NotBefore != nil {
		if nbf := std.NotBefore.Time(); now.Add(v.leeway).Before(nbf) {
			return nil, fmt.Errorf("%w: nbf %s, now %s, leeway %v (sub %q)", ErrNotYetValid, stamp(nbf), stamp(now), v.leeway, std.Subject)
		}
	}
	if std.IssuedAt != nil {
		if iat := std.IssuedAt.Time(); now.Add(v.leeway).Before(iat) {
			return nil, fmt.Errorf("%w: iat %s, now %s, leeway %v (sub %q)", ErrNotYetValid, stamp(iat), stamp(now), v.leeway, std.Subject)
		}
	}
	if std.Subject == "" {
		return nil, fmt.Errorf("%w: sub", ErrMissingClaim)
	}
	return &Claims{
		Subject:  std.Subject,
		Issuer:   std.Issuer,
		Audience: std.Audience,
		Scopes:   scopes,
		ClientID: clientID,
		Expiry:   exp,
		IssuedAt: std.IssuedAt.Time(),
		ID:       std.ID,
		Raw:      raw,
	}, nil
}

// clip shortens what an unverified token says before it goes into an error,
// so that a flood of bogus tokens cannot flood the log too.
func clip(s string) string {
	const n = 100
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func scopesOf(raw map[string]any) ([]string, error) {
	name := "scope"
	v, ok := raw[name]
	if !ok {
		name = "scp"
		if v, ok = raw[name]; !ok {
			return nil, nil
		}
	}
	switch v := v.(type) {
	case string:
		return strings.Fields(v), nil
	case []any:
		s := make([]string, 0, len(v))
		for _, e := range v {
			e, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s holds a non-string", ErrMalformed, name)
			}
			s = append(s, e)
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w: %s is neither a string nor an array", ErrMalformed, name)
}

func clientIDOf(raw map[string]any) (string, error) {
	for _, name := range []string{"client_id", "azp"} {
		if v, ok := raw[name]; ok {
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("%w: %s is a %T", ErrMalformed, name, v)
			}
			return s, nil
		}
	}
	return "", nil
}

// fits reports whether k may verify a signature made with alg.
func fits(k *jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return false
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return key.Curve == elliptic.P256()
		case jose.ES384:
			return key.Curve == elliptic.P384()
		case jose.ES512:
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}
