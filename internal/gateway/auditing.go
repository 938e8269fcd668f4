package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/audit/pgaudit"
	"github.com/toolgate/toolgate/internal/audit/sqliteaudit"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/proxy"
)

// openAudit opens the audit store and its writer: PostgreSQL when
// configured, else the state directory's; a gateway without either (wrap)
// keeps no records.
func (g *Gateway) openAudit(cfg *config.Config) error {
	st := g.opts.Audit
	switch {
	case st != nil:
	case g.pool != nil:
		s, err := pgaudit.Open(context.Background(), g.pool, &pgaudit.Options{Schema: cfg.PostgresSchema})
		if err != nil {
			return fmt.Errorf("audit store: %w", err)
		}
		st, g.ownsAudit = s, true
	case cfg.State != "":
		s, err := sqliteaudit.Open(context.Background(), cfg.State, nil)
		if err != nil {
			return fmt.Errorf("audit store: %w", err)
		}
		st, g.ownsAudit = s, true
	default:
		return nil
	}
	g.auditStore = st
	g.audit = audit.NewWriter(st, &audit.WriterOptions{
		Sync:   cfg.Audit.Sync,
		Clock:  g.now,
		Logger: g.logger.With("component", "audit"),
		OnError: func(error) {
			g.metrics.AuditError()
		},
	})
	return nil
}

// closeAudit flushes every record, then closes the store.
func (g *Gateway) closeAudit() {
	if g.audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.audit.Close(ctx); err != nil {
		g.logger.Error("flushing the audit trail", "error", err)
	}
	if g.ownsAudit {
		if err := g.auditStore.Close(); err != nil {
			g.logger.Error("closing the audit store", "error", err)
		}
	}
}

// newRequestID names one decision, in the audit trail and in the result's
// _meta, so that an agent's report can be matched with its record.
func newRequestID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "req_" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// record writes the call's audit record; in sync mode it returns once the
// record is durable.
func (e *enforcer) record(ctx context.Context, c *proxy.Call, o *outcome, overhead time.Duration) {
	g := e.g
	if g.audit == nil {
		return
	}
	r := &audit.Record{
		Time:            o.start,
		RequestID:       o.requestID,
		Session:         c.Session.ID,
		Server:          e.server,
		Method:          "tools/call",
		Tool:            c.Params.Name,
		Decision:        o.decision,
		Rule:            o.rule,
		Message:         o.message,
		Counters:        o.counters,
		UpstreamStatus:  o.status,
		UpstreamLatency: o.upstream,
		Overhead:        overhead,
	}
	if o.id != nil {
		r.User = o.id.User
		if gr := o.id.Grant; gr != nil {
			r.GrantID, r.GrantLabel = gr.ID, gr.Label
		}
	}
	r.SetArgs(o.args, g.cfg.Load().Audit.Arguments == "values")
	if o.decidedBy != nil {
		r.Approval = &audit.ApprovalInfo{ID: o.decidedBy.ID, DecidedBy: o.decidedBy.By + " via " + o.decidedBy.Via, DecidedAt: o.decidedBy.At, Reason: o.decidedBy.Reason}
	} else if o.approvalID != "" {
		r.Approval = &audit.ApprovalInfo{ID: o.approvalID}
	}
	e.write(context.WithoutCancel(ctx), r)
}

func (e *enforcer) write(ctx context.Context, r *audit.Record) {
	if err := e.g.audit.Write(ctx, r); err != nil {
		e.logger.Error("audit record not written", "tool", r.Tool, "decision", r.Decision, "error", err)
		return
	}
	e.g.metrics.AuditRecord()
}

// recordChange records that a tool's definition changed since it was
// pinned.
func (e *enforcer) recordChange(ctx context.Context, tool string, pin catalog.Pin) {
	if e.g.audit == nil {
		return
	}
	msg := "tool definition changed since it was pinned"
	if pin.Pending != nil {
		msg = fmt.Sprintf("tool definition changed since it was pinned: %s is now %s", pin.Digest, pin.Pending.Digest)
	}
	e.write(context.WithoutCancel(ctx), &audit.Record{
		Time: e.g.now(), RequestID: newRequestID(), Server: e.server, Method: "tools/list", Tool: tool,
		Decision: audit.DecisionToolChanged, Rule: "/pin", Message: msg,
	})
}

// prune deletes records older than the retention, now and then every
// hour, until ctx ends.
func (g *Gateway) prune(ctx context.Context) {
	if g.auditStore == nil {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if keep := g.cfg.Load().Audit.Retention; keep > 0 {
			n, err := g.auditStore.Prune(ctx, g.now().Add(-keep))
			switch {
			case err != nil && ctx.Err() == nil:
				g.logger.Error("pruning the audit trail", "error", err)
			case n > 0:
				g.logger.Info("audit records past retention deleted", "count", n, "retention", keep)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// OpenAudit opens the audit store cfg names, for commands: PostgreSQL when
// configured, else the state directory's (which must exist).
func OpenAudit(ctx context.Context, cfg *config.Config) (audit.Store, error) {
	if cfg.Postgres == "" {
		st, err := sqliteaudit.Open(ctx, cfg.State, &sqliteaudit.Options{NoCreate: true})
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no audit trail in %s yet (has the gateway run with this config?)", cfg.State)
		}
		return st, err
	}
	st, pool, err := openPooled(ctx, cfg.Postgres, "audit store", func(pool *pgxpool.Pool) (audit.Store, error) {
		return pgaudit.Open(ctx, pool, &pgaudit.Options{Schema: cfg.PostgresSchema})
	})
	if err != nil {
		return nil, err
	}
	return &pooledAudit{Store: st, pool: pool}, nil
}

type pooledAudit struct {
	audit.Store
	pool *pgxpool.Pool
}

func (p *pooledAudit) Close() error { return closeBoth(p.Store, p.pool) }

// AuditFilter reads the audit query parameters of a request: since and
// until (RFC 3339), grant, server, tool, decision, after and before
// (record numbers) and limit.
func AuditFilter(q map[string][]string) (audit.Filter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := audit.Filter{Grant: get("grant"), Server: get("server"), Tool: get("tool"), Decision: get("decision")}
	var err error
	for k, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if s := get(k); s != "" {
			if *dst, err = time.Parse(time.RFC3339, s); err != nil {
				return f, fmt.Errorf("%s: want an RFC 3339 time such as 2026-03-01T12:00:00Z", k)
			}
		}
	}
	for k, dst := range map[string]*int64{"after": &f.AfterSeq, "before": &f.BeforeSeq} {
		if s := get(k); s != "" {
			if *dst, err = strconv.ParseInt(s, 10, 64); err != nil || *dst < 0 {
				return f, fmt.Errorf("%s: want a record number", k)
			}
		}
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return f, errors.New("limit: want a positive number")
		}
		f.Limit = n
	}
	return f, nil
}

func (g *Gateway) auditRoutes(api *http.ServeMux) {
	need := func(w http.ResponseWriter) bool {
		if g.auditStore == nil {
			writeError(w, http.StatusNotFound, "this gateway keeps no audit trail (it has no state directory or postgres)")
			return false
		}
		return true
	}
	api.HandleFunc("GET /api/v1/audit", func(w http.ResponseWriter, r *http.Request) {
		if !need(w) {
			return
		}
		f, err := AuditFilter(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if f.Limit == 0 || f.Limit > 500 {
			f.Limit = 100
		}
		f.Desc = true
		recs, err := g.auditStore.Query(r.Context(), f)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "reading the audit trail: %v", err)
			return
		}
		out := map[string]any{"records": orEmpty(recs)}
		if len(recs) == f.Limit {
			out["next_before"] = recs[len(recs)-1].Seq
		}
		writeJSON(w, http.StatusOK, out)
	})
	api.HandleFunc("GET /api/v1/audit/export.jsonl", func(w http.ResponseWriter, r *http.Request) {
		if !need(w) {
			return
		}
		f, err := AuditFilter(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		w.Header().Set("Content-Type", "application/jsonl")
		w.Header().Set("Content-Disposition", `attachment; filename="toolgate-audit.jsonl"`)
		enc := json.NewEncoder(w)
		f.Desc = false
		limit := f.Limit
		for {
			page := f
			page.Limit = 1000
			if limit > 0 && limit < page.Limit {
				page.Limit = limit
			}
			recs, err := g.auditStore.Query(r.Context(), page)
			if err != nil {
				return
			}
			for _, rec := range recs {
				_ = enc.Encode(rec)
			}
			if len(recs) < page.Limit {
				return
			}
			if limit > 0 {
				if limit -= len(recs); limit <= 0 {
					return
				}
			}
			f.AfterSeq = recs[len(recs)-1].Seq
		}
	})
	api.HandleFunc("GET /api/v1/audit/verify", func(w http.ResponseWriter, r *http.Request) {
		if !need(w) {
			return
		}
		rep, err := g.auditStore.Verify(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, "verifying the audit trail: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
	api.HandleFunc("GET /api/v1/audit/{seq}", func(w http.ResponseWriter, r *http.Request) {
		if !need(w) {
			return
		}
		seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
		if err != nil || seq <= 0 {
			writeError(w, http.StatusBadRequest, "want a record number")
			return
		}
		recs, err := g.auditStore.Query(r.Context(), audit.Filter{AfterSeq: seq - 1, Limit: 1})
		if err != nil {
			writeError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		if len(recs) == 0 || recs[0].Seq != seq {
			writeError(w, http.StatusNotFound, "no record %d", seq)
			return
		}
		writeJSON(w, http.StatusOK, recs[0])
	})
}

// AuditStore returns the audit store, or nil when the gateway keeps none.
func (g *Gateway) AuditStore() audit.Store { return g.auditStore }

// FlushAudit makes every record written so far durable.
func (g *Gateway) FlushAudit(ctx context.Context) error {
	if g.audit == nil {
		return nil
	}
	return g.audit.Flush(ctx)
}
