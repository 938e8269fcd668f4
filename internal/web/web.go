// Package web is Toolgate's web console: a single-page application embedded
// in the binary and served on the admin listener, with the sign-in, session
// and CSRF checks that let its pages use the admin API.
//
// The console signs in with the admin token and then holds a stateless
// session: an HMAC-signed cookie that names a random session ID and an
// expiry. Nothing is stored on the server, so a session survives a restart
// and is accepted by every replica that shares the key. Every state-changing
// API request made with a session must carry the session's CSRF token in the
// X-CSRF-Token header; the token is an HMAC of the session ID, which the
// pages read from GET /ui/session.
//
// The assets need nothing beyond the gateway: no CDN, no external fonts, no
// inline scripts, so the pages run under a strict Content-Security-Policy.
package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTTL is how long a console session lasts when Options.TTL is zero.
const DefaultTTL = 12 * time.Hour

// CSRFHeader is the request header that carries a session's CSRF token.
const CSRFHeader = "X-CSRF-Token"

// Cookie names. The __Host- prefix makes browsers refuse the cookie unless
// it is Secure, host-only and for Path=/, so a sibling domain cannot plant
// one; it is only usable over TLS.
const (
	cookieName       = "toolgate_session"
	secureCookieName = "__Host-toolgate_session"
)

// contentSecurityPolicy allows only the console's own scripts, styles and
// API, nothing inline, and no framing. Trusted Types are required so that no
// script can build markup from strings.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// Options configure a [Console]. A nil *Options, or the zero value, gives a
// console on which every sign-in fails (AdminToken is nil).
type Options struct {
	// AdminToken reports whether token is the admin credential. It must
	// compare in constant time. Nil refuses every sign-in.
	AdminToken func(token string) bool
	// Secure marks the session cookie Secure (and names it with the
	// __Host- prefix): set it when the admin listener serves TLS. A
	// request that arrived over TLS gets a Secure cookie either way.
	Secure bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Key signs session cookies and CSRF tokens. Consoles given the same
	// key accept each other's sessions (replicas, restarts); changing it
	// ends every session. Nil means a random key for this process only.
	Key []byte
	// TTL is how long a session lasts; zero means DefaultTTL.
	TTL time.Duration
	// Logger receives refused sign-ins; nil discards.
	Logger *slog.Logger
}

// A Console serves the web console and checks console sessions. It is safe
// for concurrent use.
type Console struct {
	adminToken func(string) bool
	secure     bool
	now        func() time.Time
	key        []byte // derived from Options.Key, for sessions and CSRF tokens only
	ttl        time.Duration
	logger     *slog.Logger

	logins  *loginLimiter
	revoked *revocations
	assets  map[string]*asset
	login   *template.Template
}

// New returns a console configured by opts (nil means defaults).
func New(opts *Options) *Console {
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Console{adminToken: o.AdminToken, secure: o.Secure, now: o.Now, ttl: o.TTL, logger: o.Logger}
	if c.adminToken == nil {
		c.adminToken = func(string) bool { return false }
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	secret := o.Key
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // crypto/rand.Read does not fail
	}
	// The key material may serve other purposes in the gateway: sign with
	// a key of our own derived from it.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("toolgate console session key v1"))
	c.key = m.Sum(nil)
	c.logins = newLoginLimiter()
	c.revoked = &revocations{ids: make(map[string]time.Time)}
	c.assets = loadAssets()
	c.login = template.Must(template.ParseFS(files, "templates/login.html"))
	return c
}

// Handler returns the console's HTTP handler: GET / (the application; a
// visitor without a session is sent to the sign-in page), /ui/login,
// /ui/logout, /ui/session and the assets under /ui/static/. Every response
// carries the console's security headers.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.serveApp)
	mux.HandleFunc("GET /ui/login", c.serveLoginPage)
	mux.HandleFunc("POST /ui/login", c.serveLogin)
	mux.HandleFunc("POST /ui/logout", c.serveLogout)
	mux.HandleFunc("GET /ui/session", c.serveSession)
	mux.HandleFunc("GET /ui/static/{path...}", c.serveAsset)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return securityHeaders(mux)
}

// Authenticate reports whether r carries a valid console session and, if
// so, whether it passes the CSRF check: a safe method (GET, HEAD, OPTIONS)
// always does; POST, PUT, DELETE and every other method need the session's
// token in the X-CSRF-Token header and must not be marked by the browser
// as coming from another site (Sec-Fetch-Site, Origin).
func (c *Console) Authenticate(r *http.Request) (ok, csrfOK bool) {
	s, ok := c.session(r)
	if !ok {
		return false, false
	}
	if safeMethod(r.Method) {
		return true, true
	}
	return true, c.csrfValid(s, r.Header.Get(CSRFHeader)) && sameOrigin(r)
}

// Guard returns the admin API's handler for a listener that serves the
// console. A request without an Authorization header that carries a valid
// console session is passed to api, or refused with 403 when it fails the
// CSRF check (see Authenticate); every other request is passed unchanged
// to bearer, the API behind the gateway's own admin-token check.
func (c *Console) Guard(api, bearer http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			bearer.ServeHTTP(w, r)
			return
		}
		ok, csrfOK := c.Authenticate(r)
		switch {
		case !ok:
			bearer.ServeHTTP(w, r)
		case !csrfOK:
			c.logger.Info("console request refused: CSRF check failed", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden: the X-CSRF-Token header is missing or wrong"})
		default:
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Cache-Control", "no-store")
			api.ServeHTTP(w, r)
		}
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin reports whether r comes from the console's own pages, as far
// as the browser says: Sec-Fetch-Site when it sends one, else the Origin
// header, which browsers send on every cross-origin request and on
// same-origin POSTs. Under Referrer-Policy no-referrer a same-origin POST
// carries "Origin: null", so without Sec-Fetch-Site a null origin is refused
// as unknown. A request with neither header (not from a browser) passes:
// the session cookie and CSRF token still have to be right.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return true
	case "":
	default: // cross-site, same-site (another port or subdomain), none
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// securityHeaders sets the headers every console response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// serveApp serves the application shell, or sends a visitor without a
// session to the sign-in page.
func (c *Console) serveApp(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.session(r); !ok {
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	a := c.assets["index.html"]
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(a.data)
}

type loginPage struct {
	Error string
}

func (c *Console) renderLogin(w http.ResponseWriter, code int, msg string) {
	var buf bytes.Buffer
	if err := c.login.Execute(&buf, loginPage{Error: msg}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (c *Console) serveLoginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.session(r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.renderLogin(w, http.StatusOK, "")
}

// serveLogin checks the admin token posted in the form field "token" and,
// when it is right, starts a session.
func (c *Console) serveLogin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		c.renderLogin(w, http.StatusForbidden, "This sign-in came from another site and was refused.")
		return
	}
	ip := clientIP(r)
	now := c.now()
	if wait := c.logins.blocked(ip, now); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.renderLogin(w, http.StatusTooManyRequests,
			"Too many failed sign-ins from this address. Try again in "+strconv.Itoa(secs)+" s.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		c.renderLogin(w, http.StatusBadRequest, "The sign-in form could not be read.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" || !c.adminToken(token) {
		c.logins.failed(ip, now)
		c.logger.Info("console sign-in refused: wrong admin token", "remote", r.RemoteAddr)
		c.renderLogin(w, http.StatusUnauthorized, "That is not the admin token.")
		return
	}
	c.logins.succeeded(ip)
	value, exp := c.newSession(now)
	http.SetCookie(w, c.cookie(r, value, exp))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// serveLogout ends the session. A request with a valid session must pass the
// CSRF check, with the token in the X-CSRF-Token header (pages) or the form
// field "csrf" (a plain form); then it gets 204 or, for a form, a redirect
// to the sign-in page.
func (c *Console) serveLogout(w http.ResponseWriter, r *http.Request) {
	s, ok := c.session(r)
	fromPage := r.Header.Get(CSRFHeader) != ""
	if ok {
		token := r.Header.Get(CSRFHeader)
		if !fromPage {
			r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
			_ = r.ParseForm()
			token = r.PostForm.Get("csrf")
		}
		if !c.csrfValid(s, token) || !sameOrigin(r) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden: the CSRF token is missing or wrong"})
			return
		}
		c.revoked.add(s.id, s.exp, c.now())
	}
	expired := c.cookie(r, "", time.Time{})
	expired.MaxAge = -1
	http.SetCookie(w, expired)
	if fromPage {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// serveSession reports the session's CSRF token and expiry.
func (c *Console) serveSession(w http.ResponseWriter, r *http.Request) {
	s, ok := c.session(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not signed in"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"csrf": c.csrfToken(s), "expires": s.exp.UTC().Format(time.RFC3339)})
}

// clientIP is the address a request came from, without its port. Headers
// such as X-Forwarded-For are not trusted: anyone can send them.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// A session is a verified session cookie.
type session struct {
	id  string // base64url of 16 random bytes
	exp time.Time
}

// newSession makes a session cookie value: ID, expiry (Unix seconds) and
// their MAC, dot-separated.
func (c *Console) newSession(now time.Time) (string, time.Time) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	exp := now.Add(c.ttl).Truncate(time.Second)
	payload := id + "." + strconv.FormatInt(exp.Unix(), 10)
	return payload + "." + c.mac("session", payload), exp
}

// session returns r's verified, unexpired and not revoked session.
func (c *Console) session(r *http.Request) (session, bool) {
	ck, err := r.Cookie(c.cookieName(r))
	if err != nil {
		return session{}, false
	}
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 {
		return session{}, false
	}
	payload := parts[0] + "." + parts[1]
	if !hmac.Equal([]byte(parts[2]), []byte(c.mac("session", payload))) {
		return session{}, false
	}
	secs, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, false
	}
	s := session{id: parts[0], exp: time.Unix(secs, 0)}
	if !c.now().Before(s.exp) || c.revoked.has(s.id) {
		return session{}, false
	}
	return s, true
}

func (c *Console) mac(purpose, payload string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfToken is s's CSRF token: bound to the session, so a token taken from
// one session is worthless in another.
func (c *Console) csrfToken(s session) string { return c.mac("csrf", s.id) }

func (c *Console) csrfValid(s session, token string) bool {
	want := c.csrfToken(s)
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

func (c *Console) secureFor(r *http.Request) bool { return c.secure || r.TLS != nil }

func (c *Console) cookieName(r *http.Request) string {
	if c.secureFor(r) {
		return secureCookieName
	}
	return cookieName
}

func (c *Console) cookie(r *http.Request, value string, exp time.Time) *http.Cookie {
	ck := &http.Cookie{
		Name:     c.cookieName(r),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   c.secureFor(r),
	}
	if !exp.IsZero() {
		ck.Expires = exp.UTC()
		ck.MaxAge = int(exp.Sub(c.now()) / time.Second)
	}
	return ck
}

// revocations are the sessions ended by signing out, kept until they would
// have expired anyway. They are this process's own: a replica or a restart
// does not know them, but the browser has dropped the cookie already.
type revocations struct {
	mu  sync.Mutex
	ids map[string]time.Time // guarded by mu: session ID → its expiry
}

func (v *revocations) add(id string, exp, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, e := range v.ids {
		if !now.Before(e) {
			delete(v.ids, k)
		}
	}
	v.ids[id] = exp
}

func (v *revocations) has(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.ids[id]
	return ok
}
