package oauth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/oauth"
	"github.com/toolgate/toolgate/internal/oauth/oauthtest"
)

// FuzzVerify checks that Verify never panics, that every refusal is either
// the token's fault or the key set's, and that whatever it accepts has the
// claims it promises.
func FuzzVerify(f *testing.F) {
	k := keys(f)
	srv := oauthtest.NewServer(f, k.rsa, k.ec, k.ed)
	v, err := oauth.NewVerifier(oauth.Config{
		Issuer: srv.URL, JWKSURL: srv.JWKSURL, Audience: audience,
		Now: func() time.Time { return t0 },
	})
	if err != nil {
		f.Fatal(err)
	}
	claims := srv.Claims("alice", audience, t0, time.Hour)
	for _, key := range []*oauthtest.Key{k.rsa, k.ec, k.ed, k.rsa2} {
		tok := key.Sign(f, claims)
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + ".." + parts[2])
	}
	f.Add("")
	f.Add("..")
	f.Add(b64(`{"alg":"none"}`) + "." + b64(`{"sub":"a"}`) + ".")
	f.Add(b64(`{"alg":"RS256","kid":"rsa-1","crit":["b64"],"b64":false}`) + ".e30.AAAA")
	f.Add(b64(`{"alg":"ES256","kid":"ec-1","jwk":{"kty":"oct","k":"AAAA"}}`) + ".e30.AAAA")
	f.Add(b64(`{"alg":"RS256"}`) + "." + b64(`{"exp":1e400}`) + ".AAAA")

	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(t.Context(), token)
		if err != nil {
			if c != nil {
				t.Errorf("Verify(%q) = %+v, %v; want nil claims with an error", token, c, err)
			}
			if !errors.Is(err, oauth.ErrInvalidToken) && !errors.Is(err, oauth.ErrKeySetUnavailable) {
				t.Errorf("Verify(%q) = %v; want ErrInvalidToken or ErrKeySetUnavailable", token, err)
			}
			return
		}
		if c.Subject == "" || c.Issuer != srv.URL || !c.Expiry.After(t0.Add(-oauth.DefaultLeeway)) {
			t.Errorf("Verify(%q) accepted %+v", token, c)
		}
	})
}
