package approval

import (
	"context"
	"errors"
	"html/template"
	"log"
	"net/http"
	"strings"
	"time"
)

// A Decider reads and decides approvals: a Hub, so that the calls waiting
// wake at once, or a Store.
type Decider interface {
	Get(ctx context.Context, id string) (*Approval, error)
	Decide(ctx context.Context, id string, d Decision) (*Approval, error)
}

// LinkBy is Decision.By for decisions made with a link: a link does not
// say who opened it.
const LinkBy = "webhook link"

// LinkHandler serves the links Links signs, at any path that ends in
// /approvals/ID/ACTION, so that it can be mounted under the path of the
// links' base URL without stripping it.
//
// GET (and HEAD) shows the approval and a form to confirm the action, and
// decides nothing: chat apps and mail scanners fetch links to preview them.
// POST, which the form sends, decides (Via ViaWebhook, By LinkBy, with the
// reason typed in the form, if any) and shows the outcome; when the
// approval was decided already, it says by whom, how and when. A link whose
// signature does not match, or that expired, is refused with 403. The
// pages are self-contained HTML: no script, no external resources.
//
// Its fields are set before it serves and not changed after; it is then
// safe for concurrent use.
type LinkHandler struct {
	// Links checks the links' signatures.
	Links *Links
	// Decider reads and decides the approvals: the gateway's Hub.
	Decider Decider
	// Now is the clock for link expiry and decisions; nil means time.Now.
	Now func() time.Time
	// Logf logs failures to read or decide; nil means log.Printf.
	Logf func(format string, args ...any)
}

// maxForm bounds a POSTed form: a reason and the link's parameters.
const maxForm = 16 << 10

func (h *LinkHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

	parts := strings.Split(r.URL.Path, "/")
	if len(parts) < 3 || parts[len(parts)-3] != "approvals" {
		h.page(w, http.StatusNotFound, &page{Title: "Not found", Message: "There is no approval link at this address."})
		return
	}
	id, action := parts[len(parts)-2], parts[len(parts)-1]
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		hd.Set("Allow", "GET, HEAD, POST")
		h.page(w, http.StatusMethodNotAllowed, &page{Title: "Method not allowed", Message: "Open the link in a browser."})
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	}
	if err := r.ParseForm(); err != nil {
		h.page(w, http.StatusBadRequest, &page{Title: "Bad request", Message: "The form could not be read."})
		return
	}
	exp, sig := r.FormValue("exp"), r.FormValue("sig")
	now := h.now()
	switch err := h.Links.Verify(id, action, exp, sig, now); {
	case errors.Is(err, ErrLinkExpired):
		h.page(w, http.StatusForbidden, &page{Title: "Link expired", Message: "This approval link has expired. Decide in the console or with the CLI instead."})
		return
	case err != nil:
		h.page(w, http.StatusForbidden, &page{Title: "Link not valid", Message: "This approval link is not valid: its signature does not match. Use the link exactly as the notification sent it."})
		return
	}
	p := &page{Action: action, Exp: exp, Sig: sig}
	if r.Method != http.MethodPost {
		a, err := h.Decider.Get(r.Context(), id)
		if err != nil {
			h.fail(w, id, "read", err)
			return
		}
		p.Approval = a
		switch {
		case a.Status != Pending:
			p.Title, p.Message = "Already "+a.Status, settled(a)
		case a.ExpiredAt(now):
			p.Title, p.Message = "Expired", settled(&Approval{ID: a.ID, Status: Expired, Expires: a.Expires})
		default:
			p.Title, p.Confirm = strings.ToUpper(action[:1])+action[1:]+" this call?", true
		}
		h.page(w, http.StatusOK, p)
		return
	}
	a, err := h.Decider.Decide(r.Context(), id, Decision{
		Approve: action == ActionApprove,
		By:      LinkBy,
		Reason:  strings.TrimSpace(r.PostFormValue("reason")),
		Via:     ViaWebhook,
		At:      now,
	})
	var de *DecidedError
	switch {
	case err == nil:
		p.Approval = a
		if a.Status == Approved {
			p.Title, p.Message = "Approved", "The call is approved: it goes ahead once, as it was made."
		} else {
			p.Title, p.Message = "Denied", "The call is denied; the agent is told so, with your reason if you gave one."
		}
		h.page(w, http.StatusOK, p)
	case errors.As(err, &de):
		p.Approval = de.Approval
		code := http.StatusConflict
		if de.Approval.Status == Expired {
			code = http.StatusGone
		}
		p.Title, p.Message = "Already "+de.Approval.Status, settled(de.Approval)
		h.page(w, code, p)
	case errors.Is(err, ErrInvalid):
		h.page(w, http.StatusBadRequest, &page{Title: "Bad request", Message: "The reason must be text of at most 4096 bytes."})
	default:
		h.fail(w, id, "decide", err)
	}
}

// settled says, for a person, what became of an approval no longer
// pending.
func settled(a *Approval) string {
	if a.Status == Expired {
		return "This approval expired at " + a.Expires.Format(time.RFC1123) + " without a decision."
	}
	s := "This call was already " + a.Status + " by " + a.DecidedBy + " (" + a.Via + ") at " + a.DecidedAt.Format(time.RFC1123) + "."
	if a.DecisionReason != "" {
		s += " Reason: " + a.DecisionReason
	}
	return s
}

func (h *LinkHandler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// fail answers a failure to read or decide approval id: not found, or an
// error logged and not shown.
func (h *LinkHandler) fail(w http.ResponseWriter, id, what string, err error) {
	if errors.Is(err, ErrNotFound) {
		h.page(w, http.StatusNotFound, &page{Title: "Not found", Message: "There is no such approval."})
		return
	}
	h.logf("approval link: %s %s: %v", what, id, err)
	h.page(w, http.StatusInternalServerError, &page{Title: "Error", Message: "The gateway could not record or read the decision. Try again shortly."})
}

// page is what a link page shows.
type page struct {
	Title    string
	Message  string
	Approval *Approval
	// Confirm shows the form, which POSTs Action with Exp and Sig.
	Confirm  bool
	Action   string
	Exp, Sig string
}

func (h *LinkHandler) page(w http.ResponseWriter, code int, p *page) {
	w.WriteHeader(code)
	if err := pageTemplate.Execute(w, p); err != nil {
		h.logf("approval link: page: %v", err)
	}
}

func (h *LinkHandler) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"time":    func(t time.Time) string { return t.Format(time.RFC1123) },
	"preview": func(a *Approval) string { return indentPreview(a.Preview) },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}} · Toolgate</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 2rem 1rem; background: #f6f6f4; color: #222; }
main { max-width: 40rem; margin: auto; background: #fff; padding: 1.5rem 2rem; border-radius: 8px; box-shadow: 0 1px 3px #0002; }
h1 { font-size: 1.4rem; margin-top: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { color: #666; }
dd { margin: 0; overflow-wrap: anywhere; }
pre { background: #f2f2f2; padding: .75rem; overflow: auto; max-height: 20rem; }
label { display: block; margin: 1rem 0 .25rem; }
input[type=text] { width: 100%; box-sizing: border-box; padding: .4rem; font: inherit; }
button { margin-top: 1rem; padding: .5rem 1.5rem; font: inherit; border: 0; border-radius: 4px; color: #fff; cursor: pointer; }
.approve { background: #1a7f37; } .deny { background: #cf222e; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{with .Message}}<p>{{.}}</p>{{end}}
{{with .Approval}}<dl>
<dt>Tool</dt><dd>{{.Tool}}</dd>
<dt>Server</dt><dd>{{.Server}}</dd>
{{if .GrantLabel}}<dt>Grant</dt><dd>{{.GrantLabel}}</dd>{{end}}
{{if .PolicyReason}}<dt>Policy</dt><dd>{{.PolicyReason}}</dd>{{end}}
{{if .Rule}}<dt>Rule</dt><dd>{{.Rule}}</dd>{{end}}
<dt>Held at</dt><dd>{{time .Created}}</dd>
<dt>Expires</dt><dd>{{time .Expires}}</dd>
<dt>Approval</dt><dd>{{.ID}}</dd>
</dl>
{{with preview .}}<p>Arguments:</p>
<pre>{{.}}</pre>{{end}}{{end}}
{{if .Confirm}}<form method="post">
<input type="hidden" name="exp" value="{{.Exp}}">
<input type="hidden" name="sig" value="{{.Sig}}">
<label for="reason">Reason (optional{{if eq .Action "deny"}}; the agent is shown it{{end}})</label>
<input type="text" id="reason" name="reason" maxlength="1000">
<button type="submit" class="{{.Action}}">{{if eq .Action "approve"}}Approve{{else}}Deny{{end}}</button>
</form>{{end}}
</main>
</body>
</html>
`))
