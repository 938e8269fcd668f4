package gateway

import (
	"net/http"
	"net/url"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/oauth"
)

// newVerifier builds the OAuth access-token verifier for cfg, or nil when
// auth is not "oauth". Its settings take effect at start.
func (g *Gateway) newVerifier(cfg *config.Config) (*oauth.Verifier, error) {
	if cfg.Auth.Mode != "oauth" {
		return nil, nil
	}
	return oauth.NewVerifier(oauth.Config{
		Issuer:   cfg.Auth.Issuer,
		JWKSURL:  cfg.Auth.JWKSURL,
		Audience: cfg.Auth.Audience,
		Now:      g.opts.Now,
	})
}

// resourceMetadataURL is where agents find the RFC 9728 metadata that
// names the authorization server.
func (g *Gateway) resourceMetadataURL() string {
	u, err := oauth.MetadataURL(g.cfg.Load().Auth.Audience)
	if err != nil {
		return ""
	}
	return u
}

// oauthRoutes serves the protected resource metadata on the agent listener,
// at the well-known path for the configured resource and at the root one.
func (g *Gateway) oauthRoutes(mux *http.ServeMux) {
	a := g.cfg.Load().Auth
	if a.Mode != "oauth" {
		return
	}
	h := oauth.Metadata(a.Audience, a.Issuer, nil)
	paths := map[string]bool{"/.well-known/oauth-protected-resource": true}
	if u, err := url.Parse(g.resourceMetadataURL()); err == nil && u.Path != "" {
		paths[u.Path] = true
	}
	for p := range paths {
		mux.Handle("GET "+p, h)
	}
}
