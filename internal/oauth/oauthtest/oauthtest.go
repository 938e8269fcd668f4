// Package oauthtest is an authorization server for tests of the gateway's
// OAuth resource-server mode: it generates signing keys, publishes them as a
// JWKS over loopback HTTP, and mints access tokens with them.
package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is a signing key. Its fields must not change once it is in use.
type Key struct {
	// ID is the kid of the key in the JWKS and in the tokens it signs; a
	// token signed with a key whose ID is empty names no kid.
	ID string
	// Alg is the signature algorithm the key signs with.
	Alg jose.SignatureAlgorithm
	// Private is the private key.
	Private crypto.Signer
}

// NewKey generates a key for alg: RSA 2048 for RS* and PS*, the curve the
// algorithm names for ES*, Ed25519 for EdDSA.
func NewKey(t testing.TB, id string, alg jose.SignatureAlgorithm) *Key {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("oauthtest.NewKey: no key type for alg %s", alg)
	}
	if err != nil {
		t.Fatalf("oauthtest.NewKey(%s): %v", alg, err)
	}
	return &Key{ID: id, Alg: alg, Private: priv}
}

// JWK returns the public part of k as the JWKS publishes it.
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"}
}

// Sign returns claims, encoded as JSON, as a compact JWS signed with k.
func (k *Key) Sign(t testing.TB, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	if k.ID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), k.ID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Private}, opts)
	if err != nil {
		t.Fatalf("oauthtest: signer: %v", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("oauthtest: claims: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("oauthtest: sign: %v", err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("oauthtest: serialize: %v", err)
	}
	return s
}

// Server is an authorization server on a loopback address: its URL is the
// issuer, and it serves the JWKS of its published keys at JWKSURL. Its
// methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the server and its issuer identifier.
	URL string
	// JWKSURL is where the key set is served.
	JWKSURL string

	fetches atomic.Int64

	mu       sync.Mutex
	keys     []*Key       // guarded by mu
	override http.Handler // guarded by mu
}

// NewServer starts a server that publishes keys; t's cleanup stops it.
func NewServer(t testing.TB, keys ...*Key) *Server {
	t.Helper()
	s := &Server{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", s.serveJWKS)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	s.JWKSURL = hs.URL + "/jwks"
	return s
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	override := s.override
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.keys))}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	s.mu.Unlock()
	if override != nil {
		override.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	json.NewEncoder(w).Encode(set)
}

// Publish replaces the published keys: Publish(old, new) starts a rotation,
// Publish(new) ends it.
func (s *Server) Publish(keys ...*Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

// Override makes h answer requests for the key set instead, to simulate an
// issuer that is down or misbehaves; nil serves the keys again. Fetches
// counts the requests either way.
func (s *Server) Override(h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.override = h
}

// Fetches returns how many times the key set has been requested.
func (s *Server) Fetches() int { return int(s.fetches.Load()) }

// Claims returns the claims of an access token from s for sub and aud,
// issued at now and expiring ttl later. Callers may change them before
// signing.
func (s *Server) Claims(sub, aud string, now time.Time, ttl time.Duration) map[string]any {
	return map[string]any{
		"iss":       s.URL,
		"sub":       sub,
		"aud":       aud,
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
		"jti":       "jti-" + sub,
		"client_id": "test-client",
		"scope":     "mcp:tools",
	}
}
