package approval_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func newLinks(t testing.TB, base string) *approval.Links {
	t.Helper()
	l, err := approval.NewLinks(base, secret)
	if err != nil {
		t.Fatalf("NewLinks(%q) = %v", base, err)
	}
	return l
}

func TestNewLinks(t *testing.T) {
	for _, tt := range []struct {
		base   string
		secret []byte
	}{
		{"https://gw.example.com", secret[:31]},
		{"gw.example.com/hooks", secret},
		{"/hooks", secret},
		{"ftp://gw.example.com", secret},
		{"https://gw.example.com/?a=b", secret},
		{"https://user:pw@gw.example.com", secret},
	} {
		if _, err := approval.NewLinks(tt.base, tt.secret); err == nil {
			t.Errorf("NewLinks(%q, %d-byte secret) = nil; want an error", tt.base, len(tt.secret))
		}
	}
}

// parts returns what Verify takes from a link: the ID and action from its
// path, exp and sig from its query.
func parts(t testing.TB, link string) (id, action, exp, sig string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("url.Parse(%q) = %v", link, err)
	}
	seg := strings.Split(u.Path, "/")
	q := u.Query()
	return seg[len(seg)-2], seg[len(seg)-1], q.Get("exp"), q.Get("sig")
}

func TestLinks(t *testing.T) {
	l := newLinks(t, "https://gw.example.com/hooks/")
	id := approval.NewID()
	expires := t0.Add(time.Hour)
	link := l.Sign(id, approval.ActionApprove, expires)
	if want := regexp.MustCompile(`^https://gw\.example\.com/hooks/approvals/` + id + `/approve\?exp=1772370000&sig=[0-9a-f]{64}$`); !want.MatchString(link) {
		t.Fatalf("Sign = %q; want it to match %v", link, want)
	}
	_, action, exp, sig := parts(t, link)
	denySig := func() string { _, _, _, s := parts(t, l.Sign(id, approval.ActionDeny, expires)); return s }()
	other := newLinks(t, "https://gw.example.com/hooks")
	otherKey, _ := approval.NewLinks("https://gw.example.com/hooks", bytes.Repeat([]byte{'x'}, 32))
	_, _, _, otherSig := parts(t, otherKey.Sign(id, action, expires))
	now := t0.Add(time.Minute)
	for _, tt := range []struct {
		name                 string
		id, action, exp, sig string
		now                  time.Time
		want                 error
	}{
		{"as signed", id, action, exp, sig, now, nil},
		{"just before expiry", id, action, exp, sig, expires.Add(-time.Second), nil},
		{"at expiry", id, action, exp, sig, expires, approval.ErrLinkExpired},
		{"after expiry", id, action, exp, sig, expires.Add(time.Hour), approval.ErrLinkExpired},
		{"another approval", approval.NewID(), action, exp, sig, now, approval.ErrBadLink},
		{"the other action", id, approval.ActionDeny, exp, sig, now, approval.ErrBadLink},
		{"the deny signature", id, approval.ActionDeny, exp, denySig, now, nil},
		{"unknown action", id, "delete", exp, sig, now, approval.ErrBadLink},
		{"later expiry", id, action, "1772373600", sig, now, approval.ErrBadLink},
		{"expiry with a leading zero", id, action, "0" + exp, sig, now, approval.ErrBadLink},
		{"no signature", id, action, exp, "", now, approval.ErrBadLink},
		{"signature not hex", id, action, exp, "zz" + sig[2:], now, approval.ErrBadLink},
		{"signature cut short", id, action, exp, sig[:62], now, approval.ErrBadLink},
		{"signature one bit off", id, action, exp, sig[:63] + string(sig[63]^1), now, approval.ErrBadLink},
		{"another secret", id, action, exp, otherSig, now, approval.ErrBadLink},
		{"not an ID", "apr_x", action, exp, sig, now, approval.ErrBadLink},
	} {
		if err := l.Verify(tt.id, tt.action, tt.exp, tt.sig, tt.now); err != tt.want {
			t.Errorf("Verify(%s) = %v; want %v", tt.name, err, tt.want)
		}
	}
	// The base is not signed: one secret serves any address of the gateway.
	if err := other.Verify(id, action, exp, sig, now); err != nil {
		t.Errorf("Verify by Links with another base = %v; want nil", err)
	}
}

func FuzzVerify(f *testing.F) {
	l := newLinks(f, "https://gw.example.com")
	id := "apr_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	_, _, exp, sig := parts(f, l.Sign(id, approval.ActionApprove, t0.Add(time.Hour)))
	f.Add(id, approval.ActionApprove, exp, sig)
	f.Add(id, approval.ActionDeny, exp, sig)
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, id, action, exp, sig string) {
		err := l.Verify(id, action, exp, sig, t0)
		if err != nil && err != approval.ErrBadLink && err != approval.ErrLinkExpired {
			t.Fatalf("Verify = %v; want nil, ErrBadLink or ErrLinkExpired", err)
		}
		if err == nil {
			// Only what Sign makes verifies.
			unix, perr := strconv.ParseInt(exp, 10, 64)
			_, _, wantExp, wantSig := parts(t, l.Sign(id, action, time.Unix(unix, 0)))
			if perr != nil || exp != wantExp || !strings.EqualFold(sig, wantSig) {
				t.Fatalf("Verify(%q, %q, %q, %q) = nil for a link Sign did not make", id, action, exp, sig)
			}
		}
	})
}

// linkSite is a gateway serving links under /hooks, with a Hub on a
// Memory, and a clock the test sets.
type linkSite struct {
	srv   *httptest.Server
	links *approval.Links
	hub   *approval.Hub
	store *approval.Memory

	mu  sync.Mutex
	now time.Time // guarded by mu
}

func newLinkSite(t *testing.T) *linkSite {
	t.Helper()
	s := &linkSite{store: approval.NewMemory(), now: t0.Add(time.Minute)}
	s.hub = approval.NewHub(s.store, &approval.HubOptions{Now: s.clock, Logf: t.Logf})
	mux := http.NewServeMux()
	s.srv = httptest.NewServer(mux)
	s.links = newLinks(t, s.srv.URL+"/hooks")
	mux.Handle("/hooks/approvals/", &approval.LinkHandler{Links: s.links, Decider: s.hub, Now: s.clock, Logf: t.Logf})
	t.Cleanup(func() {
		s.srv.Close()
		s.hub.Close()
		s.store.Close()
	})
	return s
}

func (s *linkSite) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *linkSite) set(now time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// create makes a pending approval, with a preview that needs escaping.
func (s *linkSite) create(t *testing.T) *approval.Approval {
	t.Helper()
	a := approval.New(key, t0, t0.Add(time.Hour))
	a.GrantLabel = "alice-laptop"
	a.Preview = []byte(`{"userIds":["u1","u2"],"note":"<script>alert(1)</script>"}`)
	if err := s.hub.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

func (s *linkSite) status(t *testing.T, id string) *approval.Approval {
	t.Helper()
	a, err := s.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// do sends a request and returns the status and body.
func do(t *testing.T, method, link string, form url.Values) (int, string, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, link, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s = %v", method, link, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestLinkGet checks that opening a link, as a person or a preview bot
// does, shows the call and a form, and decides nothing.
func TestLinkGet(t *testing.T) {
	s := newLinkSite(t)
	a := s.create(t)
	link := s.links.Sign(a.ID, approval.ActionApprove, a.Expires)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		code, body, h := do(t, method, link, nil)
		if code != http.StatusOK {
			t.Fatalf("%s = %d %s; want 200", method, code, body)
		}
		if got := s.status(t, a.ID); got.Status != approval.Pending {
			t.Fatalf("after %s, the approval is %s; want pending", method, got.Status)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s headers = %v; want a strict CSP, no framing, no referrer", method, h)
		}
		if method == http.MethodHead {
			continue
		}
		for _, want := range []string{`<form method="post">`, `name="sig"`, "Approve</button>", "provision_applications", "alice-laptop", "&lt;script&gt;alert(1)&lt;/script&gt;", "u2"} {
			if !strings.Contains(body, want) {
				t.Errorf("GET page lacks %q:\n%s", want, body)
			}
		}
		for _, bad := range []string{"<script", "src=", "href=", "http://", "https://"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET page contains %q: it must be self-contained, with no script:\n%s", bad, body)
			}
		}
	}
}

// TestLinkPost checks that the confirming POST decides, through the Hub,
// waking the held call, and that a second click says who decided.
func TestLinkPost(t *testing.T) {
	s := newLinkSite(t)
	a := s.create(t)
	ctx := context.Background()
	w := wait(ctx, s.hub, a.ID)
	approve := s.links.Sign(a.ID, approval.ActionApprove, a.Expires)
	_, _, exp, sig := parts(t, approve)

	// The form posts to the page's own URL, query and all, with the
	// link's parameters repeated as fields.
	code, body, _ := do(t, http.MethodPost, approve, url.Values{"exp": {exp}, "sig": {sig}, "reason": {"  fine by me "}})
	if code != http.StatusOK || !strings.Contains(body, "Approved") {
		t.Fatalf("POST = %d %s; want 200 Approved", code, body)
	}
	r := <-w
	if r.err != nil || r.a.Status != approval.Approved || r.a.DecidedBy != approval.LinkBy || r.a.Via != approval.ViaWebhook ||
		r.a.DecisionReason != "fine by me" || !r.a.DecidedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("the held call saw %+v, %v; want approved by %q via webhook, with the reason, at the handler's time", r.a, r.err, approval.LinkBy)
	}

	// Again, with either link: refused, saying who decided.
	deny := s.links.Sign(a.ID, approval.ActionDeny, a.Expires)
	for _, link := range []string{approve, deny} {
		code, body, _ = do(t, http.MethodPost, link, url.Values{})
		if code != http.StatusConflict || !strings.Contains(body, "already approved by webhook link (webhook) at") || !strings.Contains(body, "fine by me") {
			t.Errorf("second POST = %d %s; want 409 saying it was already approved, by whom and why", code, body)
		}
	}
	code, body, _ = do(t, http.MethodGet, deny, nil)
	if code != http.StatusOK || !strings.Contains(body, "already approved") || strings.Contains(body, "<form") {
		t.Errorf("GET after the decision = %d %s; want the decision, and no form", code, body)
	}
	if got := s.status(t, a.ID); got.Status != approval.Approved {
		t.Errorf("after a second POST, the approval is %s; want approved", got.Status)
	}
}

func TestLinkDeny(t *testing.T) {
	s := newLinkSite(t)
	a := s.create(t)
	code, body, _ := do(t, http.MethodPost, s.links.Sign(a.ID, approval.ActionDeny, a.Expires), url.Values{"reason": {"too many users"}})
	if code != http.StatusOK || !strings.Contains(body, "Denied") {
		t.Fatalf("POST deny = %d %s; want 200 Denied", code, body)
	}
	if got := s.status(t, a.ID); got.Status != approval.Denied || got.DecisionReason != "too many users" {
		t.Errorf("after POST deny, the approval is %+v; want denied with the reason", got)
	}
}

// TestLinkRefused checks that links not signed, altered or expired decide
// nothing and say why.
func TestLinkRefused(t *testing.T) {
	s := newLinkSite(t)
	a := s.create(t)
	approve := s.links.Sign(a.ID, approval.ActionApprove, a.Expires)
	_, _, exp, sig := parts(t, approve)
	base := s.srv.URL + "/hooks/approvals/"
	forged, _ := approval.NewLinks(s.srv.URL+"/hooks", bytes.Repeat([]byte{'k'}, 32))
	for _, tt := range []struct {
		name string
		link string
	}{
		{"no signature", base + a.ID + "/approve?exp=" + exp},
		{"signature altered", base + a.ID + "/approve?exp=" + exp + "&sig=" + strings.Repeat("0", 64)},
		{"approve signature on deny", base + a.ID + "/deny?exp=" + exp + "&sig=" + sig},
		{"expiry moved", base + a.ID + "/approve?exp=9999999999&sig=" + sig},
		{"another secret", forged.Sign(a.ID, approval.ActionApprove, a.Expires)},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			code, body, _ := do(t, method, tt.link, url.Values{})
			if code != http.StatusForbidden || !strings.Contains(body, "signature does not match") {
				t.Errorf("%s %s = %d %s; want 403 saying the signature does not match", method, tt.name, code, body)
			}
		}
	}
	s.set(a.Expires)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		code, body, _ := do(t, method, approve, url.Values{})
		if code != http.StatusForbidden || !strings.Contains(body, "expired") {
			t.Errorf("%s of an expired link = %d %s; want 403 saying it expired", method, code, body)
		}
	}
	if got := s.status(t, a.ID); got.Status != approval.Pending {
		t.Errorf("after refused links, the approval is %s; want pending", got.Status)
	}

	// A link that outlives its approval's expiry (it cannot, as the
	// Notifier signs them, but the page must not offer a decision).
	s.set(t0.Add(time.Minute))
	late := s.links.Sign(a.ID, approval.ActionApprove, a.Expires.Add(time.Hour))
	s.set(a.Expires.Add(time.Minute))
	if code, body, _ := do(t, http.MethodGet, late, nil); code != http.StatusOK || strings.Contains(body, "<form") || !strings.Contains(body, "expired") {
		t.Errorf("GET of an expired approval = %d %s; want it shown expired, without a form", code, body)
	}
	if code, body, _ := do(t, http.MethodPost, late, url.Values{}); code != http.StatusGone || !strings.Contains(body, "expired") {
		t.Errorf("POST on an expired approval = %d %s; want 410 saying it expired", code, body)
	}
}

func TestLinkOther(t *testing.T) {
	s := newLinkSite(t)
	a := s.create(t)
	unknown := approval.NewID()
	if code, body, _ := do(t, http.MethodGet, s.links.Sign(unknown, approval.ActionApprove, a.Expires), nil); code != http.StatusNotFound {
		t.Errorf("GET of a signed link to no approval = %d %s; want 404", code, body)
	}
	if code, body, h := do(t, http.MethodPut, s.links.Sign(a.ID, approval.ActionApprove, a.Expires), url.Values{}); code != http.StatusMethodNotAllowed || h.Get("Allow") == "" {
		t.Errorf("PUT = %d %s; want 405 with Allow", code, body)
	}
	if code, body, _ := do(t, http.MethodGet, s.srv.URL+"/hooks/approvals/"+a.ID, nil); code != http.StatusNotFound {
		t.Errorf("GET without an action = %d %s; want 404", code, body)
	}
	long := url.Values{"reason": {strings.Repeat("x", 5000)}}
	if code, body, _ := do(t, http.MethodPost, s.links.Sign(a.ID, approval.ActionDeny, a.Expires), long); code != http.StatusBadRequest {
		t.Errorf("POST with a reason too long = %d %s; want 400", code, body)
	}
	huge := url.Values{"reason": {strings.Repeat("x", 1<<20)}}
	if code, body, _ := do(t, http.MethodPost, s.links.Sign(a.ID, approval.ActionDeny, a.Expires), huge); code != http.StatusBadRequest {
		t.Errorf("POST with a huge body = %d %s; want 400", code, body)
	}
	if got := s.status(t, a.ID); got.Status != approval.Pending {
		t.Errorf("the approval is %s; want pending", got.Status)
	}
	if _, err := s.hub.Decide(context.Background(), unknown, approve("alice")); !errors.Is(err, approval.ErrNotFound) {
		t.Errorf("Decide of an unknown approval = %v; want ErrNotFound", err)
	}
}
