package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/approval/pgapproval"
	"github.com/toolgate/toolgate/internal/approval/sqliteapproval"
	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/proxy"
)

// approvals is the gateway's side of human approvals: the store and hub
// that hold calls, and the webhooks that tell approvers.
type approvals struct {
	store    approval.Store
	owns     bool
	hub      *approval.Hub
	notifier atomic.Pointer[approval.Notifier] // set once the admin address is known
	links    atomic.Pointer[approval.Links]
}

// openApprovals opens the approval store: PostgreSQL when configured, the
// state directory's, or memory for a gateway without one (wrap).
func (g *Gateway) openApprovals(cfg *config.Config) error {
	a := &approvals{}
	switch {
	case g.opts.Approvals != nil:
		a.store = g.opts.Approvals
	case g.pool != nil:
		st, err := pgapproval.Open(context.Background(), g.pool, &pgapproval.Options{Schema: cfg.PostgresSchema})
		if err != nil {
			return fmt.Errorf("approval store: %w", err)
		}
		a.store, a.owns = st, true
	case cfg.State != "":
		st, err := sqliteapproval.Open(context.Background(), cfg.State, nil)
		if err != nil {
			return fmt.Errorf("approval store: %w", err)
		}
		a.store, a.owns = st, true
	default:
		a.store, a.owns = approval.NewMemory(), true
	}
	logger := g.logger.With("component", "approvals")
	a.hub = approval.NewHub(a.store, &approval.HubOptions{
		Now: g.now,
		OnCreate: func(ap *approval.Approval) {
			if n := a.notifier.Load(); n != nil {
				n.Notify(ap)
			}
		},
		Logf: func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) },
	})
	g.approvals = a
	return nil
}

// startNotifier begins telling webhooks of new approvals, with one-click
// links under base (the admin listener as approvers reach it).
func (g *Gateway) startNotifier(cfg *config.Config, adminBase string) {
	if g.admin == nil {
		return
	}
	base := cfg.Approvals.PublicURL
	if base == "" {
		base = adminBase
	}
	// Replicas sharing the admin token share the key, so a link made by
	// one is honoured by all.
	links, err := approval.NewLinks(base, g.admin.key("approval links v1"))
	if err != nil {
		g.logger.Error("approval links disabled", "error", err)
		return
	}
	g.approvals.links.Store(links)
	if len(cfg.Approvals.Webhooks) == 0 {
		return
	}
	hooks := make([]approval.Webhook, 0, len(cfg.Approvals.Webhooks))
	for _, w := range cfg.Approvals.Webhooks {
		hooks = append(hooks, approval.Webhook{URL: w.URL, Format: w.Format, Secret: w.Secret})
	}
	logger := g.logger.With("component", "webhooks")
	n, err := approval.NewNotifier(approval.NotifierOptions{
		Webhooks: hooks, Links: links, Now: g.now,
		Logf: func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		g.logger.Error("approval webhooks disabled", "error", err)
		return
	}
	g.approvals.notifier.Store(n)
}

func (a *approvals) close(logger *slog.Logger) {
	if n := a.notifier.Load(); n != nil {
		if err := n.Close(); err != nil {
			logger.Error("closing the approval webhooks", "error", err)
		}
	}
	if err := a.hub.Close(); err != nil {
		logger.Error("closing the approval hub", "error", err)
	}
	if a.owns {
		if err := a.store.Close(); err != nil {
			logger.Error("closing the approval store", "error", err)
		}
	}
}

// grantKey is whose an approval or a per-grant budget is: the grant, or
// the user, or everyone ("-") when the gateway cannot tell agents apart.
func grantKey(id *Identity) (key, label string) {
	switch {
	case id != nil && id.Grant != nil:
		return id.Grant.ID, id.Grant.Label
	case id != nil && id.User != "":
		return "user:" + id.User, id.User
	}
	return "-", "anonymous"
}

// approvalProgressEvery is how often a held call reports that it still
// waits, when the agent asked for progress.
const approvalProgressEvery = 5 * time.Second

// hold is where a call that needs a person's approval waits for one. An
// earlier approval of the same call (grant, tool, arguments) not yet used
// lets it through at once, exactly once. Otherwise the call waits on a
// pending approval (a new one, or the same call's earlier one) up to the
// rule's timeout, telling the agent's user through elicitation when the
// rule asks for it and the client can. It returns nil when the call may go
// on, or the result to return instead.
func (e *enforcer) hold(ctx context.Context, c *proxy.Call, in *policy.Input, d *policy.Decision, o *outcome, log *slog.Logger) *mcp.CallToolResult {
	g := e.g
	name := c.Params.Name
	gid, glabel := grantKey(o.id)
	key := approval.Key{GrantID: gid, Server: e.server, Tool: name, Digest: audit.Digest(in.Args)}
	timeout := policy.DefaultApprovalTimeout
	elicit := false
	if d.Approval != nil {
		timeout, elicit = d.Approval.Timeout, d.Approval.Elicit
	}

	if a, err := g.approvals.store.Consume(ctx, key, g.now()); err == nil {
		log.Info("call approved earlier; approval used", "approval", a.ID, "by", a.DecidedBy)
		o.approved(a)
		return nil
	} else if !errors.Is(err, approval.ErrNotFound) {
		log.Error("approval store unavailable; call refused", "error", err)
		return o.deny(denial(name, "requires a person's approval, which cannot be checked right now; retry shortly", d.Rule))
	}

	a, err := g.approvals.store.FindPending(ctx, key, g.now())
	if errors.Is(err, approval.ErrNotFound) {
		now := g.now()
		a = approval.New(key, now, now.Add(g.cfg.Load().Approvals.Expire))
		a.GrantLabel, a.Session, a.Rule, a.PolicyReason = glabel, c.Session.ID, d.Rule, d.Reason
		a.Preview = preview(in.Args)
		err = g.approvals.hub.Create(ctx, a)
		if err == nil {
			log.Info("call held for approval", "approval", a.ID, "timeout", timeout)
		}
	}
	if err != nil {
		log.Error("approval store unavailable; call refused", "error", err)
		return o.deny(denial(name, "requires a person's approval, which cannot be requested right now; retry shortly", d.Rule))
	}
	o.approvalID = a.ID
	g.refreshPending(ctx)

	start := g.now()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if elicit && c.CanElicit() {
		go e.askUser(wctx, c, a, log)
	}
	stopProgress := e.reportWaiting(wctx, c, a.ID, timeout)
	decided, err := g.approvals.hub.Wait(wctx, a.ID)
	stopProgress()
	o.waited = g.now().Sub(start)
	switch {
	case err != nil && ctx.Err() != nil:
		// The agent gave up (cancelled, or went away): the approval stays
		// pending for a retry.
		o.decision, o.message = "approval_pending", "the agent stopped waiting"
		return o.deny(pendingResult(name, a.ID, d.Rule))
	case errors.Is(err, context.DeadlineExceeded):
		log.Info("approval still pending at the timeout", "approval", a.ID)
		r := pendingResult(name, a.ID, d.Rule)
		o.deny(r)
		return r
	case err != nil:
		log.Error("waiting for approval failed", "approval", a.ID, "error", err)
		return o.deny(denial(name, "requires a person's approval, which cannot be checked right now; retry shortly", d.Rule))
	}
	switch decided.Status {
	case approval.Approved:
		used, err := g.approvals.store.Consume(ctx, key, g.now())
		if err != nil {
			// Another identical call took this approval first.
			log.Info("approval used by an identical call first", "approval", a.ID)
			return o.deny(pendingResult(name, a.ID, d.Rule))
		}
		log.Info("call approved", "approval", used.ID, "by", used.DecidedBy, "via", used.Via)
		o.approved(used)
		return nil
	case approval.Denied:
		log.Info("call denied by approver", "approval", a.ID, "by", decided.DecidedBy, "reason", decided.DecisionReason)
		reason := "denied by " + decided.DecidedBy
		if decided.DecisionReason != "" {
			reason += ": " + decided.DecisionReason
		}
		r := denial(name, reason+" (approval "+a.ID+")", d.Rule)
		meta := r.Meta["toolgate/decision"].(map[string]any)
		meta["decision"] = "approval_denied"
		meta["approval_id"] = a.ID
		o.deny(r)
		o.note(decided)
		return r
	}
	log.Info("approval expired undecided", "approval", a.ID)
	return o.deny(denial(name, "the request for approval "+a.ID+" expired undecided; retry to ask again", d.Rule))
}

// pendingResult tells an agent its call still waits for a person.
func pendingResult(tool, id, rule string) *mcp.CallToolResult {
	r := denial(tool, "is waiting for a person's approval (approval "+id+"); retry the same call later: once approved, one identical call goes through", rule)
	meta := r.Meta["toolgate/decision"].(map[string]any)
	meta["decision"] = "approval_pending"
	meta["approval_id"] = id
	return r
}

// preview is what approvers see of a call's arguments: redacted, and cut
// to the store's bound.
func preview(args map[string]any) json.RawMessage {
	p := audit.Canonical(audit.Redact(args))
	if len(p) > approval.MaxPreview {
		b, _ := json.Marshal(map[string]any{"truncated": true, "keys": audit.Keys(args)})
		return b
	}
	return p
}

// reportWaiting sends progress notifications while a call waits, when the
// agent gave a progress token; the returned func stops them.
func (e *enforcer) reportWaiting(ctx context.Context, c *proxy.Call, id string, timeout time.Duration) func() {
	if c.ProgressToken() == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(approvalProgressEvery)
		defer t.Stop()
		waited := time.Duration(0)
		for {
			msg := fmt.Sprintf("waiting for a person's approval (approval %s, %s of %s)", id, waited.Round(time.Second), timeout)
			if err := c.NotifyProgress(ctx, waited.Seconds(), timeout.Seconds(), msg); err != nil {
				return
			}
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				waited += approvalProgressEvery
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// askUser asks the agent's user to decide, through MCP elicitation, and
// records the answer as the decision; a decision made elsewhere first wins.
func (e *enforcer) askUser(ctx context.Context, c *proxy.Call, a *approval.Approval, log *slog.Logger) {
	msg := fmt.Sprintf("Toolgate: the agent wants to call %s on %s with %s. Approve this call?", a.Tool, a.Server, a.Preview)
	res, err := c.Elicit(ctx, &mcp.ElicitParams{
		Message: msg,
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"approve": map[string]any{"type": "boolean", "title": "Approve", "description": "Let this call through once"},
				"reason":  map[string]any{"type": "string", "title": "Reason", "description": "Why (kept in the audit trail)"},
			},
			"required": []string{"approve"},
		},
	})
	if err != nil {
		if ctx.Err() == nil {
			log.Info("asking the user for approval failed", "approval", a.ID, "error", err)
		}
		return
	}
	dec := approval.Decision{By: "the agent's user", Via: approval.ViaElicitation, At: e.g.now()}
	if u := userOf(c); u != "" {
		dec.By = u
	}
	switch res.Action {
	case "accept":
		dec.Approve, _ = res.Content["approve"].(bool)
		dec.Reason, _ = res.Content["reason"].(string)
	case "decline":
		dec.Reason = "declined by the user"
	default:
		// Cancelled: the user did not decide; others still may.
		return
	}
	if _, err := e.g.approvals.hub.Decide(context.WithoutCancel(ctx), a.ID, dec); err != nil && !errors.Is(err, approval.ErrDecided) {
		log.Error("recording the user's decision failed", "approval", a.ID, "error", err)
	}
}

// userOf names the person behind a call, when known.
func userOf(c *proxy.Call) string {
	id := identityOf(c.Auth)
	switch {
	case id == nil:
		return ""
	case id.User != "":
		return id.User
	case id.Grant != nil:
		return "user of " + id.Grant.Label
	}
	return ""
}

// refreshPending updates the pending-approvals metric.
func (g *Gateway) refreshPending(ctx context.Context) {
	g.metrics.PendingApprovals(g.pendingApprovals(ctx))
}

// pendingApprovals counts approvals awaiting a decision.
func (g *Gateway) pendingApprovals(ctx context.Context) int {
	if g.approvals == nil {
		return 0
	}
	list, err := g.approvals.store.List(ctx, approval.Filter{Status: approval.Pending})
	if err != nil {
		return 0
	}
	n := 0
	for _, a := range list {
		if !a.ExpiredAt(g.now()) {
			n++
		}
	}
	return n
}

// expireApprovals marks undecided approvals past their expiry, until ctx
// ends.
func (g *Gateway) expireApprovals(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := g.approvals.hub.Expire(ctx); err != nil {
			g.logger.Warn("expiring approvals", "error", err)
		} else if n > 0 {
			g.logger.Info("approvals expired undecided", "count", n)
		}
		g.refreshPending(ctx)
	}
}

// DecideRequest is the body of POST /api/v1/approvals/ID/approve|deny.
type DecideRequest struct {
	Reason string `json:"reason"`
	By     string `json:"by"`
}

func (g *Gateway) approvalRoutes(api *http.ServeMux) {
	api.HandleFunc("GET /api/v1/approvals", func(w http.ResponseWriter, r *http.Request) {
		f := approval.Filter{Status: r.URL.Query().Get("status"), Server: r.URL.Query().Get("server")}
		if s := r.URL.Query().Get("limit"); s != "" {
			f.Limit, _ = strconv.Atoi(s)
		}
		list, err := g.approvals.store.List(r.Context(), f)
		if err != nil {
			writeError(w, http.StatusBadRequest, "listing approvals: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, orEmpty(list))
	})
	api.HandleFunc("GET /api/v1/approvals/events", g.approvalEvents)
	api.HandleFunc("GET /api/v1/approvals/{id}", func(w http.ResponseWriter, r *http.Request) {
		a, err := g.approvals.store.Get(r.Context(), r.PathValue("id"))
		switch {
		case errors.Is(err, approval.ErrNotFound):
			writeError(w, http.StatusNotFound, "no approval %q", r.PathValue("id"))
		case err != nil:
			writeError(w, http.StatusInternalServerError, "%v", err)
		default:
			writeJSON(w, http.StatusOK, a)
		}
	})
	decide := func(approve bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var req DecideRequest
			if r.ContentLength != 0 && !decodeBody(w, r, &req, 64<<10) {
				return
			}
			via := approval.ViaAPI
			switch {
			case r.Header.Get("Authorization") == "":
				// Only a console session gets here without the token.
				via = approval.ViaConsole
			case r.Header.Get("X-Toolgate-Via") == approval.ViaCLI:
				via = approval.ViaCLI
			}
			a, err := g.Decide(r.Context(), r.PathValue("id"), approve, req.By, req.Reason, via)
			var de *approval.DecidedError
			switch {
			case errors.As(err, &de):
				writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "approval": de.Approval})
			case errors.Is(err, approval.ErrNotFound):
				writeError(w, http.StatusNotFound, "no approval %q", r.PathValue("id"))
			case errors.Is(err, approval.ErrExpired):
				writeError(w, http.StatusConflict, "%v", err)
			case errors.Is(err, approval.ErrInvalid):
				writeError(w, http.StatusBadRequest, "%v", err)
			case err != nil:
				writeError(w, http.StatusInternalServerError, "%v", err)
			default:
				writeJSON(w, http.StatusOK, a)
			}
		}
	}
	api.HandleFunc("POST /api/v1/approvals/{id}/approve", decide(true))
	api.HandleFunc("POST /api/v1/approvals/{id}/deny", decide(false))
}

// Decide records a person's decision on a pending approval; a held call
// waiting on it goes on at once.
func (g *Gateway) Decide(ctx context.Context, id string, approve bool, by, reason, via string) (*approval.Approval, error) {
	if by == "" {
		by = "admin"
	}
	a, err := g.approvals.hub.Decide(ctx, id, approval.Decision{Approve: approve, By: by, Reason: reason, Via: via, At: g.now()})
	if err == nil {
		g.logger.Info("approval decided", "approval", id, "approved", approve, "by", by, "via", via, "reason", reason)
		g.refreshPending(ctx)
	}
	return a, err
}

// approvalEvents streams approvals created and decided, as server-sent
// events, for live pages.
func (g *Gateway) approvalEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported")
		return
	}
	events := g.approvals.hub.Subscribe(r.Context())
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": approvals\n\n")
	fl.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case ev, ok := <-events:
			if !ok {
				return
			}
			data, _ := json.Marshal(ev.Approval)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Kind, data)
		}
		fl.Flush()
	}
}

// Approvals returns the approval store.
func (g *Gateway) Approvals() approval.Store { return g.approvals.store }

// OpenApprovals opens the approval store cfg names, for commands that
// decide while no gateway runs: PostgreSQL when configured, else the
// embedded store in the state directory.
func OpenApprovals(ctx context.Context, cfg *config.Config) (approval.Store, error) {
	if cfg.Postgres == "" {
		return sqliteapproval.Open(ctx, cfg.State, nil)
	}
	st, pool, err := openPooled(ctx, cfg.Postgres, "approval store", func(pool *pgxpool.Pool) (approval.Store, error) {
		return pgapproval.Open(ctx, pool, &pgapproval.Options{Schema: cfg.PostgresSchema})
	})
	if err != nil {
		return nil, err
	}
	return &pooledApprovals{Store: st, pool: pool}, nil
}

type pooledApprovals struct {
	approval.Store
	pool *pgxpool.Pool
}

func (p *pooledApprovals) Close() error { return closeBoth(p.Store, p.pool) }
