package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/internal/oauth/oauthtest"
)

// FuzzParseKeySet checks that the key set parser never panics and keeps
// only public signing keys, at most maxKeys of them.
func FuzzParseKeySet(f *testing.F) {
	ec := oauthtest.NewKey(f, "ec-1", jose.ES256)
	ed := oauthtest.NewKey(f, "ed-1", jose.EdDSA)
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{ec.JWK(), ed.JWK()}})
	if err != nil {
		f.Fatal(err)
	}
	priv, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.Private, KeyID: "p"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(set)
	f.Add(priv)
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))

	f.Fuzz(func(t *testing.T, body []byte) {
		ks, err := parseKeySet(body)
		if err != nil {
			if ks != nil {
				t.Errorf("parseKeySet(%q) = %v, %v; want nil with an error", body, ks, err)
			}
			return
		}
		if len(ks.keys) == 0 || len(ks.keys) > maxKeys {
			t.Errorf("parseKeySet(%q) kept %d keys", body, len(ks.keys))
		}
		for _, k := range ks.keys {
			if !k.IsPublic() || !k.Valid() || (k.Use != "" && k.Use != "sig") {
				t.Errorf("parseKeySet(%q) kept %+v", body, k)
			}
		}
	})
}

func TestVerifiedEviction(t *testing.T) {
	var vc verified
	ks1, ks2 := &keySet{}, &keySet{}
	live := func(*Claims) bool { return false }
	key := func(i int) (sum [sha256.Size]byte) {
		binary.BigEndian.PutUint64(sum[:], uint64(i))
		return sum
	}
	for i := range maxVerified {
		vc.put(key(i), &Claims{}, ks1, live)
	}
	if len(vc.m) != maxVerified {
		t.Fatalf("entries = %d; want %d", len(vc.m), maxVerified)
	}
	vc.put(key(-1), &Claims{}, ks2, live)
	if len(vc.m) != 1 || vc.get(key(-1), ks2) == nil {
		t.Errorf("after a put with a new key set: %d entries; want the new one only", len(vc.m))
	}
	if vc.get(key(-1), ks1) != nil {
		t.Error("get with another key set hit; want a miss")
	}

	for i := range maxVerified {
		vc.put(key(i), &Claims{}, ks2, live)
	}
	vc.put(key(-2), &Claims{}, ks2, live)
	if len(vc.m) > maxVerified {
		t.Errorf("entries = %d; want at most %d", len(vc.m), maxVerified)
	}
}

// BenchmarkVerify measures Verify on a token seen before (cached) and on one
// that is not (uncached: signature and claims checked).
func BenchmarkVerify(b *testing.B) {
	t0 := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		key := oauthtest.NewKey(b, "k", alg)
		srv := oauthtest.NewServer(b, key)
		v, err := NewVerifier(Config{
			Issuer: srv.URL, JWKSURL: srv.JWKSURL, Audience: "https://gw.example.com/mcp",
			Now: func() time.Time { return t0 },
		})
		if err != nil {
			b.Fatal(err)
		}
		tok := key.Sign(b, srv.Claims("alice", "https://gw.example.com/mcp", t0, time.Hour))
		ctx := context.Background()
		for _, cached := range []bool{true, false} {
			name := string(alg) + "/cached"
			if !cached {
				name = string(alg) + "/uncached"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !cached {
						v.verified = verified{}
					}
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
