package web

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const adminToken = "tga_correct-horse-battery-staple"

// clock is a settable time source for the console.
type clock struct {
	mu sync.Mutex
	t  time.Time
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

func newConsole(t *testing.T, mod func(*Options)) (*Console, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	opts := &Options{
		AdminToken: func(tok string) bool { return tok == adminToken },
		Now:        clk.Now,
		Key:        []byte("shared key material for the tests"),
	}
	if mod != nil {
		mod(opts)
	}
	return New(opts), clk
}

// do sends a request to h and returns the response.
func do(h http.Handler, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func loginRequest(token string) *http.Request {
	r := httptest.NewRequest("POST", "http://admin.test/ui/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "192.0.2.10:50000"
	return r
}

// login signs in and returns the session cookie.
func login(t *testing.T, c *Console) *http.Cookie {
	t.Helper()
	res := do(c.Handler(), loginRequest(adminToken))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d; want 303", res.StatusCode)
	}
	for _, ck := range res.Cookies() {
		if strings.HasSuffix(ck.Name, cookieName) {
			return ck
		}
	}
	t.Fatalf("login set no session cookie; Set-Cookie: %q", res.Header.Values("Set-Cookie"))
	return nil
}

func csrfFor(t *testing.T, c *Console, ck *http.Cookie) string {
	t.Helper()
	r := httptest.NewRequest("GET", "http://admin.test/ui/session", nil)
	r.AddCookie(ck)
	res := do(c.Handler(), r)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui/session: status %d (%s); want 200", res.StatusCode, body)
	}
	const key = `"csrf":"`
	i := strings.Index(string(body), key)
	if i < 0 {
		t.Fatalf("GET /ui/session = %s; want a csrf token", body)
	}
	rest := string(body)[i+len(key):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestLogin(t *testing.T) {
	c, _ := newConsole(t, nil)
	h := c.Handler()

	t.Run("right token", func(t *testing.T) {
		res := do(h, loginRequest(adminToken))
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
			t.Fatalf("login = %d to %q; want 303 to /", res.StatusCode, res.Header.Get("Location"))
		}
		ck := res.Cookies()
		if len(ck) != 1 {
			t.Fatalf("login set %d cookies; want 1", len(ck))
		}
		got := ck[0]
		if got.Name != cookieName || !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Path != "/" || got.Secure {
			t.Errorf("cookie %+v; want %s, HttpOnly, SameSite=Strict, Path=/, not Secure (no TLS)", got, cookieName)
		}
		if got.MaxAge != int(DefaultTTL/time.Second) {
			t.Errorf("cookie Max-Age = %d; want %d", got.MaxAge, int(DefaultTTL/time.Second))
		}
		if got.Domain != "" {
			t.Errorf("cookie Domain = %q; want none (host-only)", got.Domain)
		}
		if tok := csrfFor(t, c, got); len(tok) < 40 {
			t.Errorf("csrf token %q is too short", tok)
		}
		// Signed in, / serves the app and the sign-in page sends there.
		r := httptest.NewRequest("GET", "http://admin.test/", nil)
		r.AddCookie(got)
		if res := do(h, r); res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET / signed in = %d %s; want 200 text/html", res.StatusCode, res.Header.Get("Content-Type"))
		}
		r = httptest.NewRequest("GET", "http://admin.test/ui/login", nil)
		r.AddCookie(got)
		if res := do(h, r); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
			t.Errorf("GET /ui/login signed in = %d to %q; want 303 to /", res.StatusCode, res.Header.Get("Location"))
		}
	})

	for _, tc := range []struct{ name, token string }{
		{"wrong token", "tga_wrong"},
		{"empty token", ""},
		{"grant token", "tgr_abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(h, loginRequest(tc.token))
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("login(%q) = %d; want 401", tc.token, res.StatusCode)
			}
			if len(res.Cookies()) != 0 {
				t.Errorf("login(%q) set cookies %v; want none", tc.token, res.Cookies())
			}
			if !strings.Contains(string(body), "not the admin token") || !strings.Contains(string(body), `action="/ui/login"`) {
				t.Errorf("login(%q) page does not say why or lacks the form:\n%s", tc.token, body)
			}
		})
	}

	t.Run("no session", func(t *testing.T) {
		res := do(h, httptest.NewRequest("GET", "http://admin.test/", nil))
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
			t.Errorf("GET / without a session = %d to %q; want 303 to /ui/login", res.StatusCode, res.Header.Get("Location"))
		}
		res = do(h, httptest.NewRequest("GET", "http://admin.test/ui/session", nil))
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /ui/session without a session = %d; want 401", res.StatusCode)
		}
	})

	for _, tc := range []struct {
		name, origin, site string
		code               int
	}{
		{"cross-origin form", "https://evil.example", "", http.StatusForbidden},
		{"cross-site form", "", "cross-site", http.StatusForbidden},
		{"opaque origin", "null", "", http.StatusForbidden},
		{"own page under no-referrer", "null", "same-origin", http.StatusSeeOther},
		{"own page, Origin only", "http://admin.test", "", http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := loginRequest(adminToken)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				r.Header.Set("Sec-Fetch-Site", tc.site)
			}
			res := do(h, r)
			if res.StatusCode != tc.code || (tc.code != http.StatusSeeOther) != (len(res.Cookies()) == 0) {
				t.Errorf("login (Origin %q, Sec-Fetch-Site %q) = %d, cookies %v; want %d", tc.origin, tc.site, res.StatusCode, res.Cookies(), tc.code)
			}
		})
	}
}

func TestLoginNilCheckRefusesAll(t *testing.T) {
	c := New(nil)
	if res := do(c.Handler(), loginRequest(adminToken)); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with no AdminToken check = %d; want 401", res.StatusCode)
	}
}

func TestSecureCookie(t *testing.T) {
	c, _ := newConsole(t, func(o *Options) { o.Secure = true })
	ck := login(t, c)
	if ck.Name != secureCookieName || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
		t.Errorf("cookie %+v; want %s, Secure, HttpOnly, SameSite=Strict, Path=/", ck, secureCookieName)
	}
	// The same value under the plain name is not read.
	r := httptest.NewRequest("GET", "http://admin.test/ui/session", nil)
	r.AddCookie(&http.Cookie{Name: cookieName, Value: ck.Value})
	if ok, _ := c.Authenticate(r); ok {
		t.Error("Authenticate accepted the session under the cookie name for plain HTTP")
	}

	// A request over TLS gets a Secure cookie even without the option.
	c2, _ := newConsole(t, nil)
	r = loginRequest(adminToken)
	r.TLS = &tls.ConnectionState{}
	res := do(c2.Handler(), r)
	if cks := res.Cookies(); len(cks) != 1 || !cks[0].Secure || cks[0].Name != secureCookieName {
		t.Errorf("login over TLS set %v; want one Secure %s cookie", cks, secureCookieName)
	}
}

// guarded is the admin API behind Guard, with stand-ins that say which path
// a request took.
func guarded(c *Console) http.Handler {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Took", "session")
		w.WriteHeader(http.StatusOK)
	})
	bearer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Took", "bearer")
		w.WriteHeader(http.StatusUnauthorized)
	})
	return c.Guard(api, bearer)
}

func TestGuardCSRF(t *testing.T) {
	c, _ := newConsole(t, nil)
	ck := login(t, c)
	token := csrfFor(t, c, ck)
	other := login(t, c) // a second session, with its own token
	otherToken := csrfFor(t, c, other)
	if otherToken == token {
		t.Fatal("two sessions got the same CSRF token")
	}
	g := guarded(c)

	for _, tc := range []struct {
		name    string
		method  string
		cookie  *http.Cookie
		csrf    string
		origin  string
		site    string
		auth    string
		code    int
		took    string
		wantErr string
	}{
		{name: "GET with session", method: "GET", cookie: ck, code: 200, took: "session"},
		{name: "POST without token", method: "POST", cookie: ck, code: 403, wantErr: "X-CSRF-Token"},
		{name: "PUT without token", method: "PUT", cookie: ck, code: 403},
		{name: "DELETE without token", method: "DELETE", cookie: ck, code: 403},
		{name: "PATCH without token", method: "PATCH", cookie: ck, code: 403},
		{name: "POST with wrong token", method: "POST", cookie: ck, csrf: "not-the-token", code: 403},
		{name: "POST with another session's token", method: "POST", cookie: ck, csrf: otherToken, code: 403},
		{name: "POST with token", method: "POST", cookie: ck, csrf: token, code: 200, took: "session"},
		{name: "PUT with token", method: "PUT", cookie: ck, csrf: token, code: 200, took: "session"},
		{name: "DELETE with token", method: "DELETE", cookie: ck, csrf: token, code: 200, took: "session"},
		{name: "POST with token, same origin", method: "POST", cookie: ck, csrf: token, origin: "http://admin.test", code: 200, took: "session"},
		{name: "POST with token, other origin", method: "POST", cookie: ck, csrf: token, origin: "https://evil.example", code: 403},
		{name: "POST with token, null origin", method: "POST", cookie: ck, csrf: token, origin: "null", code: 403},
		{name: "POST with token, fetched same-origin", method: "POST", cookie: ck, csrf: token, origin: "null", site: "same-origin", code: 200, took: "session"},
		{name: "POST with token, fetched cross-site", method: "POST", cookie: ck, csrf: token, site: "cross-site", code: 403},
		{name: "POST with token, fetched same-site", method: "POST", cookie: ck, csrf: token, site: "same-site", code: 403},
		{name: "no cookie", method: "POST", code: 401, took: "bearer"},
		{name: "bearer with cookie", method: "POST", cookie: ck, auth: "Bearer tga_x", code: 401, took: "bearer"},
		{name: "garbage cookie", method: "GET", cookie: &http.Cookie{Name: cookieName, Value: "a.b.c"}, code: 401, took: "bearer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://admin.test/api/v1/grants", nil)
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			if tc.csrf != "" {
				r.Header.Set(CSRFHeader, tc.csrf)
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				r.Header.Set("Sec-Fetch-Site", tc.site)
			}
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			res := do(g, r)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.code || res.Header.Get("X-Took") != tc.took {
				t.Errorf("%s = %d via %q; want %d via %q", tc.name, res.StatusCode, res.Header.Get("X-Took"), tc.code, tc.took)
			}
			if tc.code == 403 && !strings.Contains(string(body), `"error"`) {
				t.Errorf("403 body %q; want a JSON error", body)
			}
			if tc.wantErr != "" && !strings.Contains(string(body), tc.wantErr) {
				t.Errorf("body %q; want it to mention %q", body, tc.wantErr)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	c, _ := newConsole(t, nil)
	ck := login(t, c)
	token := csrfFor(t, c, ck)
	for _, tc := range []struct {
		method, csrf string
		ok, csrfOK   bool
	}{
		{"GET", "", true, true},
		{"HEAD", "", true, true},
		{"POST", "", true, false},
		{"POST", token, true, true},
	} {
		r := httptest.NewRequest(tc.method, "http://admin.test/api/v1/x", nil)
		r.AddCookie(ck)
		if tc.csrf != "" {
			r.Header.Set(CSRFHeader, tc.csrf)
		}
		if ok, csrfOK := c.Authenticate(r); ok != tc.ok || csrfOK != tc.csrfOK {
			t.Errorf("Authenticate(%s, csrf %t) = %t, %t; want %t, %t", tc.method, tc.csrf != "", ok, csrfOK, tc.ok, tc.csrfOK)
		}
	}
	r := httptest.NewRequest("GET", "http://admin.test/api/v1/x", nil)
	if ok, csrfOK := c.Authenticate(r); ok || csrfOK {
		t.Errorf("Authenticate(no cookie) = %t, %t; want false, false", ok, csrfOK)
	}
}

func authenticated(c *Console, ck *http.Cookie) bool {
	r := httptest.NewRequest("GET", "http://admin.test/api/v1/servers", nil)
	r.AddCookie(ck)
	ok, _ := c.Authenticate(r)
	return ok
}

func TestExpiry(t *testing.T) {
	c, clk := newConsole(t, func(o *Options) { o.TTL = time.Hour })
	ck := login(t, c)
	if ck.MaxAge != 3600 {
		t.Errorf("cookie Max-Age = %d; want 3600", ck.MaxAge)
	}
	clk.Advance(59 * time.Minute)
	if !authenticated(c, ck) {
		t.Fatal("session refused before its expiry")
	}
	clk.Advance(time.Minute)
	if authenticated(c, ck) {
		t.Fatal("session accepted at its expiry")
	}
	r := httptest.NewRequest("GET", "http://admin.test/", nil)
	r.AddCookie(ck)
	if res := do(c.Handler(), r); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / with an expired session = %d; want 303 to sign in", res.StatusCode)
	}
}

func TestTamperedCookie(t *testing.T) {
	c, _ := newConsole(t, nil)
	ck := login(t, c)
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 {
		t.Fatalf("cookie value %q; want id.expiry.mac", ck.Value)
	}
	exp, _ := strconv.ParseInt(parts[1], 10, 64)
	flip := func(s string) string {
		b := []byte(s)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct{ name, value string }{
		{"later expiry", parts[0] + "." + strconv.FormatInt(exp+86400*365, 10) + "." + parts[2]},
		{"other id", flip(parts[0]) + "." + parts[1] + "." + parts[2]},
		{"changed mac", parts[0] + "." + parts[1] + "." + flip(parts[2])},
		{"no mac", parts[0] + "." + parts[1]},
		{"empty mac", parts[0] + "." + parts[1] + "."},
		{"extra part", ck.Value + ".x"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if authenticated(c, &http.Cookie{Name: ck.Name, Value: tc.value}) {
				t.Errorf("Authenticate accepted %q", tc.value)
			}
		})
	}
	if !authenticated(c, ck) {
		t.Error("the untouched cookie is refused")
	}
}

func TestKeys(t *testing.T) {
	a, _ := newConsole(t, nil)
	replica, _ := newConsole(t, nil) // same key: a restart or another replica
	stranger, _ := newConsole(t, func(o *Options) { o.Key = []byte("another key") })
	random := New(&Options{AdminToken: func(string) bool { return true }})
	ck := login(t, a)
	if !authenticated(replica, ck) {
		t.Error("a console with the same key refused the session")
	}
	if authenticated(stranger, ck) {
		t.Error("a console with another key accepted the session")
	}
	if authenticated(random, ck) {
		t.Error("a console with a random key accepted the session")
	}
	// The CSRF token is the same on every replica.
	if csrfFor(t, a, ck) != csrfFor(t, replica, ck) {
		t.Error("replicas disagree on the session's CSRF token")
	}
}

func TestLogout(t *testing.T) {
	c, _ := newConsole(t, nil)
	h := c.Handler()
	ck := login(t, c)
	token := csrfFor(t, c, ck)

	r := httptest.NewRequest("POST", "http://admin.test/ui/logout", nil)
	r.AddCookie(ck)
	if res := do(h, r); res.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the CSRF token = %d; want 403", res.StatusCode)
	}
	if !authenticated(c, ck) {
		t.Fatal("a refused logout ended the session")
	}

	r = httptest.NewRequest("POST", "http://admin.test/ui/logout", nil)
	r.AddCookie(ck)
	r.Header.Set(CSRFHeader, token)
	res := do(h, r)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("logout = %d; want 204", res.StatusCode)
	}
	cleared := res.Cookies()
	if len(cleared) != 1 || cleared[0].Name != cookieName || cleared[0].MaxAge >= 0 || cleared[0].Value != "" {
		t.Errorf("logout set %v; want the session cookie cleared", cleared)
	}
	if authenticated(c, ck) {
		t.Error("the session is still accepted after logout")
	}

	// A plain form posts the token as a field and is sent to sign in.
	ck2 := login(t, c)
	form := url.Values{"csrf": {csrfFor(t, c, ck2)}}.Encode()
	r = httptest.NewRequest("POST", "http://admin.test/ui/logout", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(ck2)
	if res := do(h, r); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
		t.Errorf("form logout = %d to %q; want 303 to /ui/login", res.StatusCode, res.Header.Get("Location"))
	}
	if authenticated(c, ck2) {
		t.Error("the session is still accepted after a form logout")
	}
}

func TestLoginRateLimit(t *testing.T) {
	c, clk := newConsole(t, nil)
	h := c.Handler()
	for i := range freeFailures {
		if res := do(h, loginRequest("tga_guess"+strconv.Itoa(i))); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed login %d = %d; want 401", i+1, res.StatusCode)
		}
	}
	// Locked: even the right token is not tried.
	res := do(h, loginRequest(adminToken))
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || len(res.Cookies()) != 0 {
		t.Fatalf("login while throttled = %d, Retry-After %q, cookies %v; want 429, a Retry-After and no cookie",
			res.StatusCode, res.Header.Get("Retry-After"), res.Cookies())
	}
	// Another address is not affected.
	r := loginRequest(adminToken)
	r.RemoteAddr = "198.51.100.7:1234"
	if res := do(h, r); res.StatusCode != http.StatusSeeOther {
		t.Errorf("login from another address = %d; want 303", res.StatusCode)
	}
	// The wait doubles with each further failure.
	clk.Advance(firstWait)
	do(h, loginRequest("tga_guess-again"))
	clk.Advance(firstWait)
	if res := do(h, loginRequest(adminToken)); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("login 1 s after the 6th failure = %d; want 429 (the wait is 2 s)", res.StatusCode)
	}
	clk.Advance(firstWait)
	if res := do(h, loginRequest(adminToken)); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login after the wait = %d; want 303", res.StatusCode)
	}
	// Success clears the address.
	if res := do(h, loginRequest("tga_wrong")); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("failed login after a success = %d; want 401, not throttled", res.StatusCode)
	}
}

func TestLoginLimiterBounded(t *testing.T) {
	l := newLoginLimiter()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxTracked + 50 {
		l.failed("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), now)
	}
	if n := len(l.addrs); n > maxTracked+1 {
		t.Errorf("limiter tracks %d entries; want at most %d", n, maxTracked+1)
	}
	// The addresses past the bound share one entry, and it is throttled.
	if d := l.blocked("172.16.0.1", now); d <= 0 {
		t.Errorf("blocked(untracked address past the bound) = %v; want a wait", d)
	}
	// Stale entries make room again.
	later := now.Add(forgetAfter + maxWait + time.Second)
	l.failed("172.16.0.2", later)
	if _, ok := l.addrs["172.16.0.2"]; !ok {
		t.Error("a new address is not tracked after the others went stale")
	}
}
