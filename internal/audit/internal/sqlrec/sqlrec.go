// Package sqlrec is what the SQL stores share: the columns of a record,
// the encoding of its structured fields, and the query a Filter makes.
package sqlrec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
)

// Columns are a record's columns, in the order of Values and Row.Dest. The
// time is in Unix microseconds, which every store keeps exactly whatever
// the year, so that no record can fail to be stored.
const Columns = "seq, time_us, request_id, grant_id, grant_label, session_id, user_name, server, method, tool, " +
	"decision, rule, message, counters, upstream_status, upstream_latency_ns, overhead_ns, " +
	"arg_keys, arg_digest, args, approval, prev, hash"

// NumColumns is the number of Columns.
const NumColumns = 23

// Values returns r's column values in Columns order. Counters, ArgKeys and
// Approval are JSON text, and nil (NULL) when empty; Args are bytes, nil
// when absent. Counters are in CounterUse's JSON encoding, so a change to
// its field names needs a migration of the stored rows.
func Values(r *audit.Record) []any {
	var approval any
	if a := r.Approval; a != nil {
		approval = jsonText(approvalColumn{a.ID, a.DecidedBy, us(a.DecidedAt), a.Reason})
	}
	return []any{
		r.Seq, us(r.Time), r.RequestID, r.GrantID, r.GrantLabel, r.Session, r.User, r.Server, r.Method, r.Tool,
		r.Decision, r.Rule, r.Message, jsonOrNil(r.Counters, len(r.Counters) == 0), r.UpstreamStatus,
		int64(r.UpstreamLatency), int64(r.Overhead),
		jsonOrNil(r.ArgKeys, len(r.ArgKeys) == 0), r.ArgDigest, bytesOrNil(r.Args), approval,
		r.Prev, r.Hash,
	}
}

func jsonOrNil(v any, null bool) any {
	if null {
		return nil
	}
	return jsonText(v)
}

// jsonText encodes v, of a type made of strings, integers and bools only,
// which cannot fail.
func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// approvalColumn is an ApprovalInfo as stored: its time in microseconds,
// like every time, so that no year fails to encode.
type approvalColumn struct {
	ID        string `json:"id,omitempty"`
	DecidedBy string `json:"decided_by,omitempty"`
	DecidedAt int64  `json:"decided_at_us"`
	Reason    string `json:"reason,omitempty"`
}

// us returns t in Unix microseconds. The zero Time is a valid one (year
// 1), so every Time reads back as it was sealed.
func us(t time.Time) int64 { return t.UnixMicro() }

func fromUS(us int64) time.Time { return time.UnixMicro(us).UTC() }

func bytesOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// Row is a record being scanned: scan into Dest, then call Record.
type Row struct {
	rec                         audit.Record
	time, latency, overhead     int64
	counters, argKeys, approval *string
	args                        []byte
}

// Dest returns the scan destinations of the Columns.
func (w *Row) Dest() []any {
	r := &w.rec
	return []any{
		&r.Seq, &w.time, &r.RequestID, &r.GrantID, &r.GrantLabel, &r.Session, &r.User, &r.Server, &r.Method, &r.Tool,
		&r.Decision, &r.Rule, &r.Message, &w.counters, &r.UpstreamStatus, &w.latency, &w.overhead,
		&w.argKeys, &r.ArgDigest, &w.args, &w.approval, &r.Prev, &r.Hash,
	}
}

// Record returns the scanned record, and an error if a structured column is
// not the JSON it should be: the record is then returned too, without that
// column, for Verify to report.
func (w *Row) Record() (*audit.Record, error) {
	r := w.rec
	r.Time = fromUS(w.time)
	r.UpstreamLatency, r.Overhead = time.Duration(w.latency), time.Duration(w.overhead)
	if w.args != nil {
		r.Args = json.RawMessage(w.args)
	}
	var approval *approvalColumn
	for _, c := range []struct {
		name string
		text *string
		dst  any
	}{{"counters", w.counters, &r.Counters}, {"arg_keys", w.argKeys, &r.ArgKeys}, {"approval", w.approval, &approval}} {
		if c.text == nil {
			continue
		}
		if err := json.Unmarshal([]byte(*c.text), c.dst); err != nil {
			return &r, fmt.Errorf("record %d: column %s: %w", r.Seq, c.name, err)
		}
	}
	if a := approval; a != nil {
		r.Approval = &audit.ApprovalInfo{ID: a.ID, DecidedBy: a.DecidedBy, DecidedAt: fromUS(a.DecidedAt), Reason: a.Reason}
	}
	return &r, nil
}

// Select returns the query of f's records from table, with its arguments.
// param returns the placeholder of the nth argument, from 1.
func Select(table string, f audit.Filter, param func(n int) string) (string, []any) {
	var (
		where []string
		args  []any
	)
	cond := func(format string, vals ...any) {
		ps := make([]any, len(vals))
		for i, v := range vals {
			args = append(args, v)
			ps[i] = param(len(args))
		}
		where = append(where, fmt.Sprintf(format, ps...))
	}
	if !f.Since.IsZero() {
		cond("time_us >= %s", us(f.Since))
	}
	if !f.Until.IsZero() {
		cond("time_us < %s", us(f.Until))
	}
	if f.Grant != "" {
		cond("(grant_id = %s OR grant_label = %s)", f.Grant, f.Grant)
	}
	if f.Server != "" {
		cond("server = %s", f.Server)
	}
	if f.Tool != "" {
		cond("tool = %s", f.Tool)
	}
	if f.Decision != "" {
		cond("decision = %s", f.Decision)
	}
	if f.AfterSeq > 0 {
		cond("seq > %s", f.AfterSeq)
	}
	if f.BeforeSeq > 0 {
		cond("seq < %s", f.BeforeSeq)
	}
	var q strings.Builder
	q.WriteString("SELECT " + Columns + " FROM " + table)
	if len(where) > 0 {
		q.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	q.WriteString(" ORDER BY seq")
	if f.Desc {
		q.WriteString(" DESC")
	}
	if f.Limit > 0 {
		q.WriteString(" LIMIT " + strconv.Itoa(f.Limit))
	}
	return q.String(), args
}
