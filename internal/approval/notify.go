package approval

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The formats of a webhook's payload.
const (
	// FormatJSON posts the approval's fields, its approve_url and deny_url,
	// and "event": "approval.created", as one JSON object.
	FormatJSON = "json"
	// FormatSlack posts a message for a Slack incoming webhook (or any
	// receiver of Slack's format): a text line and Block Kit blocks with the
	// call and two buttons that open the approve and deny links.
	FormatSlack = "slack"
)

// WebhookEventCreated is the event of a webhook sent for a new approval.
const WebhookEventCreated = "approval.created"

// Headers of a webhook request.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// webhook's secret, of the timestamp header's value, a ".", and the
	// body. VerifyWebhook checks it.
	HeaderSignature = "X-Toolgate-Signature"
	// HeaderTimestamp is when the request was signed, in Unix seconds.
	HeaderTimestamp = "X-Toolgate-Timestamp"
	// HeaderEvent is the event, WebhookEventCreated.
	HeaderEvent = "X-Toolgate-Event"
	// HeaderDelivery is the same for every attempt to deliver one
	// notification to one webhook, so that receivers can drop repeats.
	HeaderDelivery = "X-Toolgate-Delivery"
)

// A Webhook is where a Notifier posts new approvals.
type Webhook struct {
	// URL is the http or https URL to POST to.
	URL string `json:"url"`
	// Format is FormatJSON or FormatSlack; "" means FormatJSON.
	Format string `json:"format,omitempty"`
	// Secret, if not "", signs every request (HeaderSignature), so that
	// the receiver can tell it comes from the gateway. It must differ from
	// the links' secret: receivers know it. Without it requests are not
	// signed, which suits receivers that cannot check (Slack's incoming
	// webhooks).
	Secret string `json:"secret,omitempty"`
}

// NotifierOptions configures a Notifier. Only Webhooks is needed.
type NotifierOptions struct {
	// Webhooks are where to post.
	Webhooks []Webhook
	// Links, if set, signs the approve and deny links the payloads carry;
	// without it they carry none. Links expire with the approval.
	Links *Links
	// Client sends the requests; nil means a client that does not follow
	// redirects.
	Client *http.Client
	// Timeout bounds each attempt; zero means 10s.
	Timeout time.Duration
	// Attempts is how many times a notification is tried before it is
	// given up (and logged); zero means 5. Network errors and the statuses
	// 408, 429 and 5xx are tried again; other failures are not.
	Attempts int
	// Backoff is the wait before the second attempt, doubled before each
	// next one up to a minute; zero means 1s.
	Backoff time.Duration
	// Queue is how many notifications may wait for each webhook; one more
	// is dropped, and logged. Zero means 256.
	Queue int
	// Now is the clock for HeaderTimestamp; nil means time.Now.
	Now func() time.Time
	// Logf logs notifications given up or dropped; nil means log.Printf.
	Logf func(format string, args ...any)
}

// Notifier posts each new approval to webhooks, in the background: Notify
// only queues it. Each webhook has its own queue and goroutine, so a slow
// or failing receiver delays no other. Deliveries are tried again with
// backoff; failures are logged, and the held call waits for its decision
// regardless.
//
// A Notifier is safe for concurrent use. Close stops its goroutines. Make
// one with NewNotifier; the zero Notifier is not usable.
type Notifier struct {
	links    *Links
	client   *http.Client
	timeout  time.Duration
	attempts int
	backoff  time.Duration
	now      func() time.Time
	logf     func(format string, args ...any)

	hooks  []*hook
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	closed atomic.Bool
	wg     sync.WaitGroup // the deliverers
}

type hook struct {
	Webhook
	q chan *Approval
}

const maxBackoff = time.Minute

// NewNotifier checks opts and starts a Notifier. It fails for a webhook
// URL that is not absolute http or https, or an unknown format.
func NewNotifier(opts NotifierOptions) (*Notifier, error) {
	n := &Notifier{
		links:    opts.Links,
		client:   opts.Client,
		timeout:  opts.Timeout,
		attempts: opts.Attempts,
		backoff:  opts.Backoff,
		now:      opts.Now,
		logf:     opts.Logf,
	}
	if n.client == nil {
		n.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if n.timeout <= 0 {
		n.timeout = 10 * time.Second
	}
	if n.attempts <= 0 {
		n.attempts = 5
	}
	if n.backoff <= 0 {
		n.backoff = time.Second
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.logf == nil {
		n.logf = log.Printf
	}
	queue := opts.Queue
	if queue <= 0 {
		queue = 256
	}
	for i, w := range opts.Webhooks {
		u, err := url.Parse(w.URL)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("webhook %d: URL %q is not an absolute http or https URL", i, w.URL)
		}
		switch w.Format {
		case "":
			w.Format = FormatJSON
		case FormatJSON, FormatSlack:
		default:
			return nil, fmt.Errorf("webhook %d (%s): format %q is not %q or %q", i, u.Redacted(), w.Format, FormatJSON, FormatSlack)
		}
		n.hooks = append(n.hooks, &hook{Webhook: w, q: make(chan *Approval, queue)})
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, h := range n.hooks {
		n.wg.Add(1)
		go n.deliverer(h)
	}
	return n, nil
}

// Notify queues a notification of a, a new approval, for every webhook,
// and returns at once. When a webhook's queue is full, or the Notifier is
// closed, the notification is dropped for it and logged.
func (n *Notifier) Notify(a *Approval) {
	if n.closed.Load() {
		n.logf("approval %s: not notified: the notifier is closed", a.ID)
		return
	}
	a = a.Clone()
	for _, h := range n.hooks {
		select {
		case h.q <- a:
		default:
			n.logf("approval %s: webhook %s not notified: %d notifications wait for it already", a.ID, redact(h.URL), cap(h.q))
		}
	}
}

// Close stops the deliveries, those under way included, and drops the
// notifications still queued, logging how many. Calling it again returns
// nil.
func (n *Notifier) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	n.cancel()
	n.wg.Wait()
	return nil
}

func (n *Notifier) deliverer(h *hook) {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			n.drop(h, 0)
			return
		case a := <-h.q:
			if n.ctx.Err() != nil {
				n.drop(h, 1)
				return
			}
			if err := n.deliver(n.ctx, h, a); err != nil && n.ctx.Err() == nil {
				n.logf("approval %s: webhook %s: %v", a.ID, redact(h.URL), err)
			}
		}
	}
}

// drop empties h's queue at shutdown, logging how many notifications it
// held, and dropped more.
func (n *Notifier) drop(h *hook, dropped int) {
	for {
		select {
		case <-h.q:
			dropped++
			continue
		default:
		}
		break
	}
	if dropped > 0 {
		n.logf("webhook %s: %d notifications dropped at shutdown", redact(h.URL), dropped)
	}
}

// deliver posts a to h, trying again as NotifierOptions says.
func (n *Notifier) deliver(ctx context.Context, h *hook, a *Approval) error {
	var approve, deny string
	if n.links != nil {
		approve, deny = n.links.Sign(a.ID, ActionApprove, a.Expires), n.links.Sign(a.ID, ActionDeny, a.Expires)
	}
	var payload any = jsonPayload{Event: WebhookEventCreated, Approval: a, ApproveURL: approve, DenyURL: deny}
	if h.Format == FormatSlack {
		payload = slackMessage(a, approve, deny)
	}
	// Not escaped for HTML: receivers read JSON, and Slack's own escaping
	// is done already.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload); err != nil {
		return err
	}
	body := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	delivery := NewID()[len(IDPrefix):]
	wait := n.backoff
	for attempt := 1; ; attempt++ {
		retry, err := n.post(ctx, h, body, delivery)
		if err == nil {
			return nil
		}
		if !retry {
			return fmt.Errorf("given up: %w", err)
		}
		if attempt == n.attempts {
			return fmt.Errorf("given up after %d attempts: %w", attempt, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		wait = min(2*wait, maxBackoff)
	}
}

// post makes one attempt, and reports whether a failure is worth another.
func (n *Notifier) post(ctx context.Context, h *hook, body []byte, delivery string) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "toolgate")
	req.Header.Set(HeaderEvent, WebhookEventCreated)
	req.Header.Set(HeaderDelivery, delivery)
	if h.Secret != "" {
		ts, sig := SignWebhook(h.Secret, n.now(), body)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, sig)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		// The URL may hold a token (Slack's do): keep it out of logs.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case 200 <= c && c < 300:
		return false, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return true, fmt.Errorf("HTTP status %d", c)
	default:
		return false, fmt.Errorf("HTTP status %d", c)
	}
}

// redact returns a webhook URL fit for logs: its scheme and host, without
// the path and query, where services such as Slack put a token.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(bad URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// SignWebhook returns the values of HeaderTimestamp and HeaderSignature
// for a request with body, signed with secret at time at.
func SignWebhook(secret string, at time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(at.Unix(), 10)
	return timestamp, "sha256=" + hex.EncodeToString(webhookMAC(secret, timestamp, body))
}

func webhookMAC(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// ErrBadWebhook is VerifyWebhook's answer to a request that was not
// signed with the secret, was altered, or is too old.
var ErrBadWebhook = errors.New("webhook signature not valid")

// VerifyWebhook checks, for a receiver, that a webhook request with header
// h and body was signed with secret no more than tolerance away from now,
// comparing in constant time. It returns nil or an error wrapping
// ErrBadWebhook.
func VerifyWebhook(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no timestamp", ErrBadWebhook)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %v, more than %v from now", ErrBadWebhook, time.Unix(unix, 0).UTC(), tolerance)
	}
	hexSig, ok := strings.CutPrefix(h.Get(HeaderSignature), "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || !hmac.Equal(got, webhookMAC(secret, ts, body)) {
		return fmt.Errorf("%w: the signature does not match", ErrBadWebhook)
	}
	return nil
}

// jsonPayload is the FormatJSON body: the approval's fields, flattened,
// and the links.
type jsonPayload struct {
	Event string `json:"event"`
	*Approval
	ApproveURL string `json:"approve_url,omitempty"`
	DenyURL    string `json:"deny_url,omitempty"`
}

// Slack's limits on text in blocks, less some room.
const (
	slackSectionText = 2900
	slackFieldText   = 1900
)

// slackMessage is the FormatSlack body.
func slackMessage(a *Approval, approve, deny string) map[string]any {
	who := "no grant"
	if a.GrantLabel != "" {
		who = "grant " + a.GrantLabel
	}
	text := fmt.Sprintf("Approval needed: %s on %s for %s (%s)", a.Tool, a.Server, who, a.ID)
	field := func(name, value string) map[string]any {
		return map[string]any{"type": "mrkdwn", "text": "*" + name + "*\n" + clip(slackEscape(value), slackFieldText)}
	}
	fields := []any{
		field("Tool", a.Tool),
		field("Server", a.Server),
		field("Grant", cmpOrString(a.GrantLabel, "(none)")),
		field("Expires", a.Expires.UTC().Format(time.RFC1123)),
	}
	if a.PolicyReason != "" {
		fields = append(fields, field("Policy", a.PolicyReason))
	}
	if a.Rule != "" {
		fields = append(fields, field("Rule", a.Rule))
	}
	blocks := []any{
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*Approval needed* for a call held by the policy"}, "fields": fields},
	}
	if p := indentPreview(a.Preview); p != "" {
		// The fence is closed even when the preview is clipped.
		body := clip(slackEscape(strings.ReplaceAll(p, "```", "'''")), slackSectionText-20)
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*Arguments*\n```" + body + "```"}})
	}
	if approve != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []any{
			map[string]any{"type": "button", "action_id": "approve", "style": "primary", "url": approve,
				"text": map[string]any{"type": "plain_text", "text": "Approve"}},
			map[string]any{"type": "button", "action_id": "deny", "style": "danger", "url": deny,
				"text": map[string]any{"type": "plain_text", "text": "Deny"}},
		}})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []any{
		map[string]any{"type": "mrkdwn", "text": slackEscape("Approval " + a.ID + " · also: toolgate approvals approve|deny " + a.ID)},
	}})
	return map[string]any{"text": slackEscape(text), "blocks": blocks}
}

func cmpOrString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// slackEscape escapes the characters Slack's mrkdwn gives meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip cuts s, escaped for Slack, to at most n bytes, on a rune boundary
// and not inside an entity, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	s = s[:n]
	if amp := strings.LastIndexByte(s, '&'); amp >= 0 && !strings.Contains(s[amp:], ";") {
		s = s[:amp]
	}
	return s + "…"
}

// indentPreview returns a preview indented for people, or "" for none.
func indentPreview(p json.RawMessage) string {
	if len(p) == 0 || string(p) == "null" {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, p, "", "  "); err != nil {
		return string(p)
	}
	return b.String()
}
