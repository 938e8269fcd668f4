package approval_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/approval"
)

// request is what a webhook receiver got.
type request struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that hands each request to the test and
// answers with the next status from statuses (200 once they run out).
func receiver(t *testing.T, statuses ...int) (*httptest.Server, <-chan request) {
	t.Helper()
	ch := make(chan request, 100)
	next := make(chan int, len(statuses))
	for _, s := range statuses {
		next <- s
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("webhook request %s; want POST", r.Method)
		}
		b, _ := io.ReadAll(r.Body)
		code := http.StatusOK
		select {
		case code = <-next:
		default:
		}
		w.WriteHeader(code)
		ch <- request{r.Header.Clone(), b}
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// logs returns a Logf that hands each line to the test.
func logs() (func(string, ...any), <-chan string) {
	ch := make(chan string, 100)
	return func(format string, args ...any) { ch <- fmt.Sprintf(format, args...) }, ch
}

func newNotifier(t *testing.T, opts approval.NotifierOptions) *approval.Notifier {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	n, err := approval.NewNotifier(opts)
	if err != nil {
		t.Fatalf("NewNotifier = %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func heldCall() *approval.Approval {
	a := approval.New(key, t0, t0.Add(time.Hour))
	a.GrantLabel = "alice-laptop"
	a.Session = "s1"
	a.Rule = "/tools/provision_applications/approve_if/0"
	a.PolicyReason = "more than 50 users"
	a.Preview = json.RawMessage(`{"userIds":["u1","u2"],"note":"a <b> & c"}`)
	return a
}

func TestNotifyJSON(t *testing.T) {
	srv, got := receiver(t)
	links := newLinks(t, "https://gw.example.com/hooks")
	now := t0.Add(time.Second)
	n := newNotifier(t, approval.NotifierOptions{
		Webhooks: []approval.Webhook{{URL: srv.URL + "/in", Secret: "receiver secret"}},
		Links:    links,
		Now:      func() time.Time { return now },
	})
	a := heldCall()
	n.Notify(a)
	r := <-got

	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", ct)
	}
	if ev := r.header.Get(approval.HeaderEvent); ev != "approval.created" {
		t.Errorf("%s = %q; want approval.created", approval.HeaderEvent, ev)
	}
	if err := approval.VerifyWebhook("receiver secret", r.header, r.body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("VerifyWebhook = %v; want nil", err)
	}
	for _, tt := range []struct {
		name   string
		secret string
		body   []byte
		now    time.Time
	}{
		{"another secret", "guess", r.body, now},
		{"altered body", "receiver secret", append([]byte(`{"x":1,`), r.body[1:]...), now},
		{"replayed later", "receiver secret", r.body, now.Add(6 * time.Minute)},
	} {
		if err := approval.VerifyWebhook(tt.secret, r.header, tt.body, tt.now, 5*time.Minute); !errors.Is(err, approval.ErrBadWebhook) {
			t.Errorf("VerifyWebhook(%s) = %v; want ErrBadWebhook", tt.name, err)
		}
	}
	h := r.header.Clone()
	h.Set(approval.HeaderTimestamp, fmt.Sprint(now.Unix()+1))
	if err := approval.VerifyWebhook("receiver secret", h, r.body, now, 5*time.Minute); !errors.Is(err, approval.ErrBadWebhook) {
		t.Errorf("VerifyWebhook with another timestamp = %v; want ErrBadWebhook", err)
	}

	var p struct {
		approval.Approval
		Event      string `json:"event"`
		ApproveURL string `json:"approve_url"`
		DenyURL    string `json:"deny_url"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("payload %s: %v", r.body, err)
	}
	if p.Event != "approval.created" || p.ID != a.ID || p.Tool != a.Tool || p.Server != a.Server || p.GrantLabel != a.GrantLabel ||
		p.Rule != a.Rule || p.PolicyReason != a.PolicyReason || p.Digest != a.Digest || p.Status != approval.Pending ||
		!p.Expires.Equal(a.Expires) || !sameJSON(p.Preview, a.Preview) {
		t.Errorf("payload = %s; want the approval's fields", r.body)
	}
	for action, link := range map[string]string{approval.ActionApprove: p.ApproveURL, approval.ActionDeny: p.DenyURL} {
		id, act, exp, sig := parts(t, link)
		if !strings.HasPrefix(link, "https://gw.example.com/hooks/approvals/") || id != a.ID || act != action {
			t.Errorf("%s link = %q; want one for %s under the base", action, link, a.ID)
		}
		if err := links.Verify(id, act, exp, sig, t0.Add(time.Minute)); err != nil {
			t.Errorf("Verify(%s link) = %v", action, err)
		}
		if err := links.Verify(id, act, exp, sig, a.Expires); !errors.Is(err, approval.ErrLinkExpired) {
			t.Errorf("Verify(%s link) at the approval's expiry = %v; want ErrLinkExpired", action, err)
		}
	}
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func TestNotifySlack(t *testing.T) {
	srv, got := receiver(t)
	links := newLinks(t, "https://gw.example.com")
	n := newNotifier(t, approval.NotifierOptions{
		Webhooks: []approval.Webhook{{URL: srv.URL, Format: approval.FormatSlack}},
		Links:    links,
	})
	a := heldCall()
	n.Notify(a)
	r := <-got
	if r.header.Get(approval.HeaderSignature) != "" {
		t.Errorf("a webhook without a secret got a signature: %v", r.header)
	}
	type text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string `json:"type"`
			Text     *text  `json:"text"`
			Fields   []text `json:"fields"`
			Elements []struct {
				Type  string          `json:"type"`
				Text  json.RawMessage `json:"text"`
				Style string          `json:"style"`
				URL   string          `json:"url"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(r.body, &msg); err != nil {
		t.Fatalf("payload %s: %v", r.body, err)
	}
	if !strings.Contains(msg.Text, "provision_applications") || !strings.Contains(msg.Text, "alice-laptop") || !strings.Contains(msg.Text, a.ID) {
		t.Errorf("text = %q; want the tool, grant and approval", msg.Text)
	}
	var fields, preview string
	var buttons int
	for _, b := range msg.Blocks {
		switch b.Type {
		case "section":
			for _, f := range b.Fields {
				if f.Type != "mrkdwn" {
					t.Errorf("field type %q; want mrkdwn", f.Type)
				}
				fields += f.Text + "\n"
			}
			if b.Text != nil && strings.Contains(b.Text.Text, "```") {
				preview = b.Text.Text
			}
		case "actions":
			for _, e := range b.Elements {
				var label text
				if err := json.Unmarshal(e.Text, &label); err != nil || e.Type != "button" || label.Type != "plain_text" {
					t.Errorf("action element %s %s; want a button with plain text", e.Type, e.Text)
				}
				id, action, exp, sig := parts(t, e.URL)
				want := map[string]string{"Approve": approval.ActionApprove, "Deny": approval.ActionDeny}[label.Text]
				style := map[string]string{"Approve": "primary", "Deny": "danger"}[label.Text]
				if action != want || e.Style != style || links.Verify(id, action, exp, sig, t0) != nil {
					t.Errorf("button %q (%s) opens %s; want the signed %s link", label.Text, e.Style, e.URL, want)
				}
				buttons++
			}
		}
	}
	if buttons != 2 {
		t.Errorf("%d buttons; want Approve and Deny:\n%s", buttons, r.body)
	}
	for _, want := range []string{"*Tool*\nprovision_applications", "*Server*\nokta", "*Grant*\nalice-laptop", "more than 50 users"} {
		if !strings.Contains(fields, want) {
			t.Errorf("fields lack %q:\n%s", want, fields)
		}
	}
	if !strings.Contains(preview, `"u2"`) || !strings.Contains(preview, "a &lt;b&gt; &amp; c") {
		t.Errorf("preview = %q; want the arguments, escaped for Slack", preview)
	}
}

// TestNotifySlackLimits checks that long text is cut to fit Slack's
// limits (3000 characters in a section, 2000 in a field), without cutting
// an escape in two.
func TestNotifySlackLimits(t *testing.T) {
	srv, got := receiver(t)
	n := newNotifier(t, approval.NotifierOptions{Webhooks: []approval.Webhook{{URL: srv.URL, Format: approval.FormatSlack}}})
	a := heldCall()
	a.PolicyReason = strings.Repeat("é&", 1500)
	a.Preview = json.RawMessage(`"` + strings.Repeat("<", approval.MaxPreview-2) + `"`)
	n.Notify(a)
	var msg struct {
		Blocks []struct {
			Text   *struct{ Text string }  `json:"text"`
			Fields []struct{ Text string } `json:"fields"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal((<-got).body, &msg); err != nil {
		t.Fatal(err)
	}
	for _, b := range msg.Blocks {
		if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > 3000 {
			t.Errorf("section text of %d characters; want at most 3000", utf8.RuneCountInString(b.Text.Text))
		}
		if b.Text != nil && strings.Contains(b.Text.Text, "```") && !strings.HasSuffix(b.Text.Text, "&lt;…```") {
			t.Errorf("preview ends %q; want whole escapes, cut, and the fence closed", b.Text.Text[len(b.Text.Text)-20:])
		}
		for _, f := range b.Fields {
			if utf8.RuneCountInString(f.Text) > 2000 || !utf8.ValidString(f.Text) {
				t.Errorf("field of %d characters (valid UTF-8: %v); want at most 2000", utf8.RuneCountInString(f.Text), utf8.ValidString(f.Text))
			}
		}
	}
}

// TestNotifyRetries checks that a failing receiver is tried again, with
// the same delivery ID and body, until it accepts.
func TestNotifyRetries(t *testing.T) {
	srv, got := receiver(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	logf, lines := logs()
	n := newNotifier(t, approval.NotifierOptions{
		Webhooks: []approval.Webhook{{URL: srv.URL, Secret: "s"}},
		Backoff:  time.Millisecond,
		Logf:     logf,
	})
	n.Notify(heldCall())
	var rs []request
	for range 3 {
		rs = append(rs, <-got)
	}
	for _, r := range rs[1:] {
		if d := r.header.Get(approval.HeaderDelivery); d == "" || d != rs[0].header.Get(approval.HeaderDelivery) || string(r.body) != string(rs[0].body) {
			t.Errorf("retry with delivery %q and body %s; want %q and the same body", d, r.body, rs[0].header.Get(approval.HeaderDelivery))
		}
	}
	n.Close()
	select {
	case l := <-lines:
		t.Errorf("logged %q; want nothing once delivered", l)
	default:
	}
}

// TestNotifyGivesUp checks that attempts are bounded, and that a refusal
// that will not change is not tried again; both are logged.
func TestNotifyGivesUp(t *testing.T) {
	for _, tt := range []struct {
		name     string
		status   int
		attempts int
		log      string
	}{
		{"server errors", http.StatusInternalServerError, 3, "given up after 3 attempts: HTTP status 500"},
		{"refused", http.StatusForbidden, 1, "given up: HTTP status 403"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			statuses := make([]int, 10)
			for i := range statuses {
				statuses[i] = tt.status
			}
			srv, got := receiver(t, statuses...)
			logf, lines := logs()
			n := newNotifier(t, approval.NotifierOptions{
				Webhooks: []approval.Webhook{{URL: srv.URL + "/secret-token-path"}},
				Attempts: 3,
				Backoff:  time.Millisecond,
				Logf:     logf,
			})
			a := heldCall()
			n.Notify(a)
			l := <-lines
			if !strings.Contains(l, tt.log) || !strings.Contains(l, a.ID) || strings.Contains(l, "secret-token-path") {
				t.Errorf("log = %q; want it to name the approval and say %q, without the URL's path", l, tt.log)
			}
			if len(got) != tt.attempts {
				t.Errorf("%d attempts; want %d", len(got), tt.attempts)
			}
		})
	}
}

// TestNotifyNeverBlocks checks that Notify returns while a receiver hangs
// and its queue is full, dropping and logging, and that Close ends the
// delivery under way.
func TestNotifyNeverBlocks(t *testing.T) {
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	logf, lines := logs()
	n, err := approval.NewNotifier(approval.NotifierOptions{
		Webhooks: []approval.Webhook{{URL: srv.URL}},
		Queue:    1,
		Logf:     logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(heldCall())
	<-arrived // the deliverer is stuck in this one
	for range 4 {
		n.Notify(heldCall())
	}
	dropped := 0
	for range 3 {
		if l := <-lines; strings.Contains(l, "not notified") {
			dropped++
		}
	}
	if dropped != 3 {
		t.Errorf("%d notifications dropped; want 3 (one in flight, one queued)", dropped)
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if l := <-lines; !strings.Contains(l, "1 notifications dropped at shutdown") {
		t.Errorf("log at Close = %q; want the queued notification reported", l)
	}
	n.Notify(heldCall())
	if l := <-lines; !strings.Contains(l, "closed") {
		t.Errorf("log of Notify after Close = %q; want it to say the notifier is closed", l)
	}
}

func TestNewNotifierChecks(t *testing.T) {
	for _, w := range []approval.Webhook{
		{URL: "hooks.example.com/x"},
		{URL: "ftp://hooks.example.com/x"},
		{URL: "https://hooks.example.com/x", Format: "xml"},
	} {
		if _, err := approval.NewNotifier(approval.NotifierOptions{Webhooks: []approval.Webhook{w}}); err == nil {
			t.Errorf("NewNotifier(%+v) = nil; want an error", w)
		}
	}
}

// TestWebhookToDecision follows a notification to its end: the webhook
// carries a link, an approver opens it and confirms, and the held call
// goes ahead, once.
func TestWebhookToDecision(t *testing.T) {
	s := newLinkSite(t)
	srv, got := receiver(t)
	n := newNotifier(t, approval.NotifierOptions{Webhooks: []approval.Webhook{{URL: srv.URL}}, Links: s.links})
	// The gateway's wiring: the Hub notifies what it creates.
	hub := approval.NewHub(s.store, &approval.HubOptions{OnCreate: n.Notify, Now: s.clock})
	defer hub.Close()
	ctx := context.Background()
	a := heldCall()
	if err := hub.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	w := wait(ctx, s.hub, a.ID)
	var p struct {
		ApproveURL string `json:"approve_url"`
	}
	if err := json.Unmarshal((<-got).body, &p); err != nil {
		t.Fatal(err)
	}
	// The page's form posts back to the page's URL.
	if code, body, _ := do(t, http.MethodGet, p.ApproveURL, nil); code != http.StatusOK || !strings.Contains(body, `<form method="post">`) {
		t.Fatalf("GET %s = %d %s", p.ApproveURL, code, body)
	}
	if code, body, _ := do(t, http.MethodPost, p.ApproveURL, url.Values{}); code != http.StatusOK {
		t.Fatalf("POST %s = %d %s", p.ApproveURL, code, body)
	}
	if r := <-w; r.err != nil || r.a.Status != approval.Approved {
		t.Fatalf("the held call saw %+v, %v; want approved", r.a, r.err)
	}
	for i, want := range []error{nil, approval.ErrNotFound} {
		if _, err := s.store.Consume(ctx, a.Key(), s.clock()); !errors.Is(err, want) {
			t.Errorf("Consume #%d = %v; want %v", i, err, want)
		}
	}
}
