package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/grant"
	"github.com/toolgate/toolgate/internal/web"
)

// AdminTokenEnv names the environment variable that sets the admin token
// (for deployments that provision secrets); without it the gateway makes
// one on first start, shows it once and keeps only its hash.
const AdminTokenEnv = "TOOLGATE_ADMIN_TOKEN"

// adminTokenPrefix marks admin tokens apart from grant tokens, for people
// and secret scanners; the two are checked against different stores, so
// neither can stand in for the other.
const adminTokenPrefix = "tga_"

// adminAuth checks the admin credential.
type adminAuth struct {
	hash [32]byte
	// secret keys what the gateway signs for admins (console sessions,
	// approval links). Derived from the token itself when it comes from the
	// environment, so that replicas sharing the token share it; otherwise
	// random and kept in the state directory. Never from the hash, which
	// whoever reads the state directory knows.
	secret []byte
}

// key derives a key for one purpose from the admin secret.
func (a *adminAuth) key(purpose string) []byte {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("toolgate " + purpose))
	return m.Sum(nil)
}

// adminSecretFile keeps the signing secret of a gateway whose admin token
// it made itself.
func adminSecretFile(state string) string { return filepath.Join(state, "admin-secret") }

// loadAdminSecret reads the state directory's signing secret, making one
// the first time.
func loadAdminSecret(state string) ([]byte, error) {
	path := adminSecretFile(state)
	data, err := os.ReadFile(path)
	if err == nil {
		b, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("admin secret %s is damaged: remove it to make a new one (console sessions and approval links made so far stop working)", path)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin secret: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("admin secret: %w", err)
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("admin secret: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("admin secret: %w", err)
	}
	return b, nil
}

func (a *adminAuth) check(token string) bool {
	h := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(h[:], a.hash[:]) == 1
}

// adminTokenFile is where the admin token's hash is kept.
func adminTokenFile(state string) string { return filepath.Join(state, "admin-token.sha256") }

// loadAdminAuth returns the admin credential: from AdminTokenEnv, else the
// hash in the state directory, else a new token, whose hash is stored and
// which is written to notice once.
func loadAdminAuth(state string, getenv func(string) (string, bool), notice io.Writer, logger *slog.Logger) (*adminAuth, error) {
	if tok, ok := getenv(AdminTokenEnv); ok && tok != "" {
		m := hmac.New(sha256.New, []byte(tok))
		m.Write([]byte("toolgate admin secret v1"))
		return &adminAuth{hash: sha256.Sum256([]byte(tok)), secret: m.Sum(nil)}, nil
	}
	secret, err := loadAdminSecret(state)
	if err != nil {
		return nil, err
	}
	path := adminTokenFile(state)
	data, err := os.ReadFile(path)
	if err == nil {
		a := adminAuth{secret: secret}
		b, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(b) != len(a.hash) {
			return nil, fmt.Errorf("admin token hash %s is damaged: remove it to make a new token", path)
		}
		copy(a.hash[:], b)
		return &a, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	token := adminTokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	a := &adminAuth{hash: sha256.Sum256([]byte(token)), secret: secret}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(a.hash[:])+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	logger.Info("admin token created; it is shown once on the terminal", "hash_file", path)
	fmt.Fprintf(notice, "\nAdmin token for the admin API and console (shown once; store it now):\n\n  %s\n\n", token)
	return a, nil
}

// requireAdmin lets through only requests bearing the admin token.
func (g *Gateway) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.admin == nil || !g.admin.check(bearer(r)) {
			g.logger.Info("admin request refused: not authenticated", "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="toolgate-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized: the admin token is required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// GrantRequest is the body of POST /api/v1/grants.
type GrantRequest struct {
	Label  string `json:"label"`
	Server string `json:"server"`
	Policy string `json:"policy,omitempty"`
	// Expires is a time (RFC 3339) or a duration from now ("30d", "12h").
	Expires string `json:"expires,omitempty"`
}

// GrantView is a grant as the admin API and CLI show it: never its token.
type GrantView struct {
	ID       string     `json:"id"`
	Label    string     `json:"label"`
	Server   string     `json:"server"`
	Policy   string     `json:"policy,omitempty"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires,omitempty"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Status   string     `json:"status"` // live, expired or revoked
}

// ViewOf describes g at now.
func ViewOf(g *grant.Grant, now time.Time) GrantView {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	v := GrantView{ID: g.ID, Label: g.Label, Server: g.Server, Policy: g.Policy, Created: g.Created,
		Expires: opt(g.Expires), Revoked: opt(g.Revoked), LastUsed: opt(g.LastUsed), Status: "live"}
	switch {
	case !g.Revoked.IsZero():
		v.Status = "revoked"
	case !g.Expires.IsZero() && !now.Before(g.Expires):
		v.Status = "expired"
	}
	return v
}

// Created is a new grant with its token, shown once.
type Created struct {
	Token        string    `json:"token"`
	Grant        GrantView `json:"grant"`
	ClientConfig any       `json:"client_config"`
}

// ParseExpiry reads an expiry: a time (RFC 3339), or a duration from now
// in days ("30d") or Go's syntax ("12h", "90m"). "" is never.
func ParseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return time.Time{}, fmt.Errorf("expiry %q: want a positive number of days", s)
		}
		return now.AddDate(0, 0, n), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("expiry %q: want a time (RFC 3339) or a positive duration such as 30d or 12h", s)
	}
	return now.Add(d), nil
}

// CreateGrant makes a grant for a configured server and stores it, returning
// it with its token.
func CreateGrant(r *http.Request, store grant.Store, cfg *config.Config, req GrantRequest, now time.Time) (*Created, error) {
	if !hasServer(cfg, req.Server) {
		return nil, fmt.Errorf("%w: no server %q in the config", grant.ErrInvalid, req.Server)
	}
	expires, err := ParseExpiry(req.Expires, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", grant.ErrInvalid, err)
	}
	g, token, err := grant.New(req.Label, req.Server, now)
	if err != nil {
		return nil, err
	}
	g.Expires = expires
	if req.Policy != "" {
		if g.Policy, err = filepath.Abs(req.Policy); err != nil {
			return nil, err
		}
	}
	if err := store.Create(r.Context(), g, grant.Hash(token)); err != nil {
		return nil, err
	}
	return &Created{Token: token, Grant: ViewOf(g, now), ClientConfig: ClientConfig(cfg, req.Server, token)}, nil
}

func hasServer(cfg *config.Config, name string) bool {
	for _, s := range cfg.Servers {
		if s.Name == name {
			return true
		}
	}
	return false
}

// ClientConfig is the mcpServers entry an MCP client needs to reach server
// through the gateway with token.
func ClientConfig(cfg *config.Config, server, token string) map[string]any {
	entry := map[string]any{"type": "http", "url": BaseURL(cfg) + "/mcp/" + server}
	if token != "" {
		entry["headers"] = map[string]string{"Authorization": "Bearer " + token}
	}
	return map[string]any{"mcpServers": map[string]any{server: entry}}
}

// BaseURL is the agents' base URL of the gateway as configured.
func BaseURL(cfg *config.Config) string {
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return scheme + "://" + cfg.Listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// adminRoutes adds the admin API to mux.
func (g *Gateway) adminRoutes(mux *http.ServeMux) {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/servers", func(w http.ResponseWriter, r *http.Request) {
		type view struct {
			Name     string `json:"name"`
			Ready    bool   `json:"ready"`
			Restarts int64  `json:"restarts"`
			Policy   string `json:"policy,omitempty"`
		}
		out := []view{}
		for _, sc := range g.cfg.Load().Servers {
			if s := (*g.servers.Load())[sc.Name]; s != nil {
				out = append(out, view{Name: sc.Name, Ready: s.front.Ready(), Restarts: s.front.Restarts(), Policy: sc.Policy})
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	api.HandleFunc("GET /api/v1/grants", func(w http.ResponseWriter, r *http.Request) {
		list, err := g.grants.List(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, "listing grants: %v", err)
			return
		}
		now := g.now()
		out := make([]GrantView, 0, len(list))
		for _, gr := range list {
			out = append(out, ViewOf(gr, now))
		}
		writeJSON(w, http.StatusOK, out)
	})
	api.HandleFunc("POST /api/v1/grants", func(w http.ResponseWriter, r *http.Request) {
		var req GrantRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "bad request: %v", err)
			return
		}
		c, err := CreateGrant(r, g.grants, g.cfg.Load(), req, g.now())
		switch {
		case errors.Is(err, grant.ErrInvalid):
			writeError(w, http.StatusBadRequest, "%v", err)
		case errors.Is(err, grant.ErrExists):
			writeError(w, http.StatusConflict, "a live grant is already labelled %q", req.Label)
		case err != nil:
			writeError(w, http.StatusInternalServerError, "creating grant: %v", err)
		default:
			g.logger.Info("grant created", "grant", c.Grant.Label, "id", c.Grant.ID, "server", c.Grant.Server)
			writeJSON(w, http.StatusCreated, c)
		}
	})
	api.HandleFunc("DELETE /api/v1/grants/{ref}", func(w http.ResponseWriter, r *http.Request) {
		gr, err := g.grants.Revoke(r.Context(), r.PathValue("ref"), g.now())
		switch {
		case errors.Is(err, grant.ErrNotFound):
			writeError(w, http.StatusNotFound, "no live grant %q", r.PathValue("ref"))
		case errors.Is(err, grant.ErrRevoked):
			writeError(w, http.StatusConflict, "grant %q was already revoked", r.PathValue("ref"))
		case err != nil:
			writeError(w, http.StatusInternalServerError, "revoking grant: %v", err)
		default:
			g.logger.Info("grant revoked", "grant", gr.Label, "id", gr.ID)
			writeJSON(w, http.StatusOK, ViewOf(gr, g.now()))
		}
	})
	api.HandleFunc("GET /api/v1/counters", func(w http.ResponseWriter, r *http.Request) {
		out, err := g.Counters(r.Context())
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "reading budgets: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
	api.HandleFunc("GET /api/v1/overview", g.overview)
	g.policyRoutes(api)
	g.pinRoutes(api)
	g.catalogRoutes(api)
	g.approvalRoutes(api)
	g.auditRoutes(api)
	if g.admin != nil {
		g.console = web.New(&web.Options{
			AdminToken: g.admin.check,
			Secure:     g.cfg.Load().Admin.TLS != nil,
			Now:        g.now,
			Key:        g.admin.key("console sessions"),
			Logger:     g.logger.With("component", "console"),
		})
		mux.Handle("/api/", g.console.Guard(api, g.requireAdmin(api)))
		mux.Handle("/", g.console.Handler())
		return
	}
	mux.Handle("/api/", g.requireAdmin(api))
}

// Counter is one budget in use, as `toolgate counters` shows it.
type Counter struct {
	Server  string `json:"server"`
	Counter string `json:"counter"`
	Scope   string `json:"scope"`
	// Owner is whose budget it is: a grant's label, a session or user id,
	// or "" for a server-wide budget.
	Owner  string        `json:"owner"`
	Used   int64         `json:"used"`
	Max    int64         `json:"max"`
	Window time.Duration `json:"window_ns"`
	// NextFree is how long until the oldest admission leaves the window.
	NextFree time.Duration `json:"next_free_ns"`
}

// Counters lists the budgets in use.
func (g *Gateway) Counters(ctx context.Context) ([]Counter, error) {
	usage, err := g.limits.Usage(ctx, g.now(), "")
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	if list, err := g.grants.List(ctx); err == nil {
		for _, gr := range list {
			labels[gr.ID] = gr.Label
		}
	}
	out := make([]Counter, 0, len(usage))
	for _, u := range usage {
		// Keys are server|limit key|owner; the limit key is
		// "counter" scope window max.
		server, rest, _ := strings.Cut(u.Key, "|")
		i := strings.LastIndexByte(rest, '|')
		if i < 0 {
			continue
		}
		lkey, owner := rest[:i], rest[i+1:]
		counter, scope := lkey, ""
		if q, err := strconv.QuotedPrefix(lkey); err == nil {
			counter, _ = strconv.Unquote(q)
			scope, _, _ = strings.Cut(strings.TrimSpace(lkey[len(q):]), " ")
		}
		if l, ok := labels[owner]; ok {
			owner = l
		}
		if owner == "-" {
			owner = ""
		}
		out = append(out, Counter{Server: server, Counter: counter, Scope: scope, Owner: owner,
			Used: u.Used, Max: u.Max, Window: u.Window, NextFree: u.NextFree})
	}
	return out, nil
}
