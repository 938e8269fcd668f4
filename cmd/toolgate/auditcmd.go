package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/gateway"
)

const auditUsage = `usage:
  toolgate audit [--since T] [--until T] [--grant G] [--server S] [--tool T] [--decision D] [--limit N] [--jsonl|--json] [--follow]
  toolgate audit verify [--json]
Reads the audit trail: every decision, newest last. --since and --until take
an RFC 3339 time or a duration before now (90m, 24h, 7d); --follow keeps
printing new records. verify checks the hash chain and names every edited,
deleted or reordered record (exit 1). Each takes --config FILE, and --admin
URL to read a running gateway's admin API instead of the state store.`

// auditSource is where the audit commands read: the store or the admin API.
type auditSource interface {
	query(ctx context.Context, f audit.Filter) ([]*audit.Record, error)
	verify(ctx context.Context) (*audit.VerifyReport, error)
}

type storeSource struct{ st audit.Store }

func (s storeSource) query(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	return s.st.Query(ctx, f)
}

func (s storeSource) verify(ctx context.Context) (*audit.VerifyReport, error) {
	return s.st.Verify(ctx)
}

type apiSource struct{ b *adminBackend }

func (s apiSource) query(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("grant", f.Grant)
	set("server", f.Server)
	set("tool", f.Tool)
	set("decision", f.Decision)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.AfterSeq > 0 {
		q.Set("after", strconv.FormatInt(f.AfterSeq, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Desc {
		// The newest first, a page at most.
		var page struct {
			Records []*audit.Record `json:"records"`
		}
		err := s.b.do(ctx, "GET", "/api/v1/audit?"+q.Encode(), nil, &page)
		return page.Records, err
	}
	req := "/api/v1/audit/export.jsonl?" + q.Encode()
	var recs []*audit.Record
	err := s.b.stream(ctx, req, func(line []byte) error {
		var r audit.Record
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		recs = append(recs, &r)
		return nil
	})
	return recs, err
}

func (s apiSource) verify(ctx context.Context) (*audit.VerifyReport, error) {
	var rep audit.VerifyReport
	return &rep, s.b.do(ctx, "GET", "/api/v1/audit/verify", nil, &rep)
}

func runAudit(ctx context.Context, e *env, args []string) int {
	sub := "query"
	if len(args) > 0 && args[0] == "verify" {
		sub, args = "verify", args[1:]
	}
	fs := newFlags(e, "audit")
	cfgPath := fs.String("config", "toolgate.json", "the config `file`")
	admin := fs.String("admin", "", "a running gateway's admin `URL` (default: read the state store)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	asJSONL := fs.Bool("jsonl", false, "print one JSON record per line")
	var f audit.Filter
	var since, until string
	follow := fs.Bool("follow", false, "keep printing new records")
	if sub == "query" {
		fs.StringVar(&since, "since", "", "records from this `time` (RFC 3339, or a duration before now: 24h, 7d)")
		fs.StringVar(&until, "until", "", "records up to this `time`")
		fs.StringVar(&f.Grant, "grant", "", "only this `grant` (label or id)")
		fs.StringVar(&f.Server, "server", "", "only this `server`")
		fs.StringVar(&f.Tool, "tool", "", "only this `tool`")
		fs.StringVar(&f.Decision, "decision", "", "only this `decision` (allow, deny, hidden, limited, approved, approval_pending, approval_denied, error, tool_changed)")
		fs.IntVar(&f.Limit, "limit", 50, "at most this many of the newest records (0: all)")
	}
	if code, ok := parseFlags(fs, reorder(args)); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(e.stderr, auditUsage)
		return exitUsage
	}
	now := time.Now()
	var err error
	if f.Since, err = parseWhen(since, now); err != nil {
		fmt.Fprintf(e.stderr, "toolgate audit: --since: %v\n", err)
		return exitUsage
	}
	if f.Until, err = parseWhen(until, now); err != nil {
		fmt.Fprintf(e.stderr, "toolgate audit: --until: %v\n", err)
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "toolgate audit: %v\n", err)
		return exitFailure
	}
	var src auditSource
	if *admin != "" {
		src = apiSource{&adminBackend{base: strings.TrimSuffix(*admin, "/"), token: os.Getenv(gateway.AdminTokenEnv)}}
	} else {
		st, err := openStore(ctx, *cfgPath, gateway.OpenAudit)
		if err != nil {
			return fail(err)
		}
		defer st.Close()
		src = storeSource{st}
	}

	if sub == "verify" {
		rep, err := src.verify(ctx)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			printJSON(e.stdout, rep)
		} else if rep.OK() {
			fmt.Fprintf(e.stdout, "%d records verified (%d to %d): the chain is intact.\n", rep.Checked, rep.First, rep.Last)
		} else {
			for _, p := range rep.Problems {
				fmt.Fprintln(e.stdout, p.String())
			}
			if rep.Truncated {
				fmt.Fprintln(e.stdout, "… and more problems not shown")
			}
			fmt.Fprintf(e.stdout, "%d records checked: the audit trail has been tampered with.\n", rep.Checked)
		}
		if !rep.OK() {
			return exitFailure
		}
		return exitOK
	}

	// The newest N, printed oldest first.
	q := f
	q.Desc = true
	recs, err := src.query(ctx, q)
	if err != nil {
		return fail(err)
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	switch {
	case *asJSON && !*follow:
		if recs == nil {
			recs = []*audit.Record{}
		}
		return printJSON(e.stdout, recs)
	case *asJSON || *asJSONL:
		enc := json.NewEncoder(e.stdout)
		for _, r := range recs {
			_ = enc.Encode(r)
		}
	default:
		if len(recs) == 0 && !*follow {
			fmt.Fprintln(e.stdout, "No records.")
			return exitOK
		}
		writeRecords(e.stdout, recs, true)
	}
	if !*follow {
		return exitOK
	}
	var last int64
	if len(recs) > 0 {
		last = recs[len(recs)-1].Seq
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case <-t.C:
		}
		q := f
		q.Since, q.Limit, q.AfterSeq, q.Desc = time.Time{}, 1000, last, false
		recs, err := src.query(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return exitOK
			}
			return fail(err)
		}
		if len(recs) == 0 {
			continue
		}
		last = recs[len(recs)-1].Seq
		if *asJSON || *asJSONL {
			enc := json.NewEncoder(e.stdout)
			for _, r := range recs {
				_ = enc.Encode(r)
			}
		} else {
			writeRecords(e.stdout, recs, false)
		}
	}
}

// parseWhen reads an RFC 3339 time or a duration before now ("" is zero).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 90m, 24h or 7d", s)
	}
	return now.Add(-d), nil
}

// writeRecords prints records as a table, with its header when header.
func writeRecords(w io.Writer, recs []*audit.Record, header bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "SEQ\tTIME\tGRANT\tSERVER\tTOOL\tDECISION\tRULE\tUPSTREAM\tMESSAGE")
	}
	for _, r := range recs {
		grant := r.GrantLabel
		if grant == "" {
			grant = "-"
		}
		up := "-"
		if r.UpstreamStatus != "" {
			up = fmt.Sprintf("%s %.1fms", r.UpstreamStatus, float64(r.UpstreamLatency.Microseconds())/1000)
		}
		msg := r.Message
		if r.Approval != nil && r.Approval.DecidedBy != "" {
			msg = strings.TrimSpace(msg + " approved by " + r.Approval.DecidedBy)
		}
		if len(msg) > 80 {
			msg = msg[:77] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Local().Format("2006-01-02 15:04:05.000"), grant, r.Server, r.Tool, r.Decision, dash(r.Rule), up, dash(msg))
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
