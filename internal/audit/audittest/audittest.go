// Package audittest is the contract every audit.Store passes: records kept
// exactly, every filter, paging, the chain kept whole under concurrent
// appends from several stores on one database (processes, replicas), each
// kind of tampering found and named, pruning that keeps the chain
// verifiable, numbering that survives reopening; and the Writer on the
// store: sync writes readable from another store when they return, every
// record stored at Close. Each backend's tests call Run, and Benchmark.
package audittest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
)

// t0 is the suite's epoch.
var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// DB is one empty database for the suite.
type DB struct {
	// Open opens a store on the database. The suite may call it several
	// times, with stores open at once, and closes every store it returns.
	Open func(t *testing.T) audit.Store
	// Tamper changes the database behind the stores' backs.
	Tamper Tamper
}

// Tamper changes a store's records directly in its database, as someone
// with write access to the database could. Columns are named as in the SQL
// stores' schemas: "message", "counters", "prev", "hash", ….
type Tamper interface {
	// Set sets column of record seq to value. It returns an error
	// matching errors.ErrUnsupported when the database cannot hold the
	// value there, and the suite skips the case.
	Set(ctx context.Context, seq int64, column string, value any) error
	// Renumber changes the seq of record from to to, which is free.
	Renumber(ctx context.Context, from, to int64) error
	// Delete deletes record seq.
	Delete(ctx context.Context, seq int64) error
}

// Run runs the contract suite. newDB is called once per subtest: it
// prepares an empty database, registers its removal with t.Cleanup, and
// returns it.
func Run(t *testing.T, newDB func(t *testing.T) DB) {
	tests := []struct {
		name string
		f    func(t *testing.T, db DB)
	}{
		{"AppendQuery", testAppendQuery},
		{"Normalize", testNormalize},
		{"Filters", testFilters},
		{"Paging", testPaging},
		{"Empty", testEmpty},
		{"Batches", testBatches},
		{"Concurrent", testConcurrent},
		{"TwoStores", testTwoStores},
		{"Reopen", testReopen},
		{"Prune", testPrune},
		{"PruneOutOfOrder", testPruneOutOfOrder},
		{"PruneDamaged", testPruneDamaged},
		{"PruneLarge", testPruneLarge},
		{"Closed", testClosed},
		{"WriterSync", testWriterSync},
		{"WriterClose", testWriterClose},
		{"WriterFlush", testWriterFlush},
	}
	for _, tc := range tamperCases {
		tests = append(tests, struct {
			name string
			f    func(t *testing.T, db DB)
		}{"Tamper" + tc.name, func(t *testing.T, db DB) { testTamper(t, db, tc) }})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newDB(t)
			open := db.Open
			db.Open = func(t *testing.T) audit.Store {
				t.Helper()
				s := open(t)
				t.Cleanup(func() { s.Close() })
				return s
			}
			tt.f(t, db)
		})
	}
}

// record returns a record with every field set, numbered i in the suite's
// data.
func record(i int) *audit.Record {
	return &audit.Record{
		Time:       at(time.Duration(i) * time.Second),
		RequestID:  fmt.Sprintf("req-%d", i),
		GrantID:    fmt.Sprintf("grt_%016d", i%3),
		GrantLabel: fmt.Sprintf("agent-%d", i%3),
		Session:    "sess-1",
		User:       "alice@example.com",
		Server:     "okta",
		Method:     "tools/call",
		Tool:       "list_users",
		Decision:   audit.DecisionAllow,
		Rule:       "/tools/list_users",
		Message:    "",
		Counters: []audit.CounterUse{{
			Counter: "calls", Rule: "/all_tools/limits/0", Scope: "grant", Key: fmt.Sprintf("grt_%016d", i%3),
			Cost: 1, Max: 100, Window: time.Minute,
		}},
		UpstreamStatus:  audit.UpstreamOK,
		UpstreamLatency: 1500 * time.Microsecond,
		Overhead:        80 * time.Microsecond,
		ArgKeys:         []string{"limit", "query"},
		ArgDigest:       strings.Repeat("ab", 32),
		Args:            json.RawMessage(`{"limit":10,"query":"status eq \"ACTIVE\""}`),
	}
}

// records returns n records from record(from).
func records(from, n int) []*audit.Record {
	rs := make([]*audit.Record, n)
	for i := range rs {
		rs[i] = record(from + i)
	}
	return rs
}

func appendRecs(t testing.TB, s audit.Store, recs ...*audit.Record) {
	t.Helper()
	if err := s.Append(context.Background(), recs); err != nil {
		t.Fatalf("Append(%d records) = %v", len(recs), err)
	}
}

func query(t testing.TB, s audit.Store, f audit.Filter) []*audit.Record {
	t.Helper()
	recs, err := s.Query(context.Background(), f)
	if err != nil {
		t.Fatalf("Query(%+v) = %v", f, err)
	}
	return recs
}

func verify(t testing.TB, s audit.Store) *audit.VerifyReport {
	t.Helper()
	rep, err := s.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
	return rep
}

func wantOK(t testing.TB, s audit.Store, checked int64) *audit.VerifyReport {
	t.Helper()
	rep := verify(t, s)
	if !rep.OK() || rep.Checked != checked {
		t.Fatalf("Verify = checked %d, problems %v; want checked %d, no problems", rep.Checked, rep.Problems, checked)
	}
	return rep
}

func seqs(recs []*audit.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func span(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// show encodes r for comparison and failure text: every field, as the JSONL
// output has it.
func show(r *audit.Record) string {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

func wantSame(t testing.TB, what string, got, want *audit.Record) {
	t.Helper()
	if show(got) != show(want) {
		t.Fatalf("%s =\n%s\nwant\n%s", what, show(got), show(want))
	}
	for _, tm := range []time.Time{got.Time, approvalTime(got)} {
		if tm.Location() != time.UTC {
			t.Fatalf("%s has a time in %v; want UTC", what, tm.Location())
		}
	}
	if got.Hash != got.Sum() {
		t.Fatalf("%s: Hash %s, Sum() %s", what, got.Hash, got.Sum())
	}
}

func approvalTime(r *audit.Record) time.Time {
	if r.Approval == nil {
		return time.Time{}.UTC()
	}
	return r.Approval.DecidedAt
}

func testAppendQuery(t *testing.T, db DB) {
	s := db.Open(t)
	recs := records(0, 3)
	recs[1].Decision = audit.DecisionApproved
	recs[1].Approval = &audit.ApprovalInfo{ID: "apr_1", DecidedBy: "bob@example.com", DecidedAt: at(time.Minute), Reason: "ticket 42"}
	recs[1].Counters = append(recs[1].Counters, audit.CounterUse{Counter: "cost", Scope: "server", Cost: 5, Max: 5, Window: time.Hour, Denied: true})
	recs[2] = &audit.Record{Time: at(time.Hour), Decision: audit.DecisionDeny} // only what is required
	appendRecs(t, s, recs...)
	prev := ""
	for i, r := range recs {
		if r.Seq != int64(i+1) || r.Prev != prev || r.Hash != r.Sum() || len(r.Hash) != 64 {
			t.Fatalf("after Append, record %d has seq %d, prev %q, hash %q (Sum %q); want seq %d, prev %q, hash = Sum",
				i, r.Seq, r.Prev, r.Hash, r.Sum(), i+1, prev)
		}
		prev = r.Hash
	}
	got := query(t, s, audit.Filter{})
	if len(got) != len(recs) {
		t.Fatalf("Query = %d records; want %d", len(got), len(recs))
	}
	for i := range recs {
		wantSame(t, fmt.Sprintf("Query[%d]", i), got[i], recs[i])
	}
	// The results are the caller's.
	got[0].Message = "changed"
	wantSame(t, "Query[0] after changing an earlier result", query(t, s, audit.Filter{})[0], recs[0])
	wantOK(t, s, 3)
}

func testNormalize(t *testing.T, db DB) {
	s := db.Open(t)
	paris := time.FixedZone("CET", 3600)
	r := &audit.Record{
		Time:      time.Date(2026, 3, 1, 13, 0, 0, 123456789, paris),
		Decision:  "allow",
		Tool:      "bad\xffutf8",
		Message:   "nul\x00byte",
		Counters:  []audit.CounterUse{},
		ArgKeys:   []string{},
		Args:      json.RawMessage("{ \"a\" : [1, 2] }"),
		Approval:  &audit.ApprovalInfo{DecidedBy: "x\x00", DecidedAt: time.Date(2026, 3, 1, 13, 0, 1, 999, paris)},
		RequestID: "",
	}
	other := &audit.Record{Time: at(0), Decision: "deny", Args: json.RawMessage("not json")}
	appendRecs(t, s, r, other)
	for _, c := range []struct{ what, got, want string }{
		{"Time", r.Time.String(), "2026-03-01 12:00:00.123456 +0000 UTC"},
		{"Tool", r.Tool, "bad\uFFFDutf8"},
		{"Message", r.Message, "nul\uFFFDbyte"},
		{"Args", string(r.Args), `{"a":[1,2]}`},
		{"Approval.DecidedBy", r.Approval.DecidedBy, "x\uFFFD"},
		{"Approval.DecidedAt", r.Approval.DecidedAt.String(), "2026-03-01 12:00:01 +0000 UTC"},
		{"Counters", fmt.Sprint(r.Counters == nil), "true"},
		{"ArgKeys", fmt.Sprint(r.ArgKeys == nil), "true"},
		{"invalid Args", string(other.Args), `"not json"`},
	} {
		if c.got != c.want {
			t.Errorf("after Append, %s = %q; want %q", c.what, c.got, c.want)
		}
	}
	got := query(t, s, audit.Filter{})
	wantSame(t, "Query[0]", got[0], r)
	wantSame(t, "Query[1]", got[1], other)
	wantOK(t, s, 2)
}

// filterData is the records testFilters queries: seq i+1 is filterData[i].
func filterData() []*audit.Record {
	mk := func(sec int, grantID, label, server, tool, decision string) *audit.Record {
		return &audit.Record{Time: at(time.Duration(sec) * time.Second), GrantID: grantID, GrantLabel: label,
			Server: server, Tool: tool, Decision: decision}
	}
	return []*audit.Record{
		mk(0, "grt_a", "alice", "okta", "list_users", "allow"),     // 1
		mk(1, "grt_a", "alice", "okta", "delete_user", "deny"),     // 2
		mk(2, "grt_b", "bob", "github", "create_issue", "allow"),   // 3
		mk(3, "grt_b", "bob", "okta", "list_users", "limited"),     // 4
		mk(4, "grt_c", "carol", "github", "delete_repo", "hidden"), // 5
		mk(5, "grt_a", "alice", "github", "list_users", "allow"),   // 6 (a tool of the same name on another server)
		mk(6, "", "", "okta", "", "error"),                         // 7 (no grant, no tool)
		mk(7, "grt_d", "grt_a", "okta", "list_users", "allow"),     // 8 (a label equal to another's ID)
		mk(8, "grt_b", "bob", "okta", "delete_user", "approved"),   // 9
		mk(9, "grt_a", "alice", "okta", "list_users", "allow"),     // 10
	}
}

func testFilters(t *testing.T, db DB) {
	s := db.Open(t)
	appendRecs(t, s, filterData()...)
	sec := func(n int) time.Time { return at(time.Duration(n) * time.Second) }
	tests := []struct {
		name string
		f    audit.Filter
		want []int64
	}{
		{"all", audit.Filter{}, span(1, 10)},
		{"since", audit.Filter{Since: sec(7)}, []int64{8, 9, 10}},
		{"until", audit.Filter{Until: sec(2)}, []int64{1, 2}},
		{"since until", audit.Filter{Since: sec(2), Until: sec(4)}, []int64{3, 4}},
		{"since between microseconds", audit.Filter{Since: sec(2).Add(-time.Nanosecond)}, span(3, 10)},
		{"grant by ID", audit.Filter{Grant: "grt_b"}, []int64{3, 4, 9}},
		{"grant by label", audit.Filter{Grant: "alice"}, []int64{1, 2, 6, 10}},
		{"grant by ID or label", audit.Filter{Grant: "grt_a"}, []int64{1, 2, 6, 8, 10}},
		{"server", audit.Filter{Server: "github"}, []int64{3, 5, 6}},
		{"tool", audit.Filter{Tool: "list_users"}, []int64{1, 4, 6, 8, 10}},
		{"server and tool", audit.Filter{Server: "okta", Tool: "list_users"}, []int64{1, 4, 8, 10}},
		{"decision", audit.Filter{Decision: "deny"}, []int64{2}},
		{"decision none", audit.Filter{Decision: "approval_denied"}, nil},
		{"grant and decision", audit.Filter{Grant: "alice", Decision: "allow"}, []int64{1, 6, 10}},
		{"after seq", audit.Filter{AfterSeq: 7}, []int64{8, 9, 10}},
		{"before seq", audit.Filter{BeforeSeq: 3}, []int64{1, 2}},
		{"after and before seq", audit.Filter{AfterSeq: 3, BeforeSeq: 6}, []int64{4, 5}},
		{"limit", audit.Filter{Limit: 3}, []int64{1, 2, 3}},
		{"desc", audit.Filter{Desc: true}, []int64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"desc limit", audit.Filter{Desc: true, Limit: 2}, []int64{10, 9}},
		{"desc limit server", audit.Filter{Desc: true, Limit: 2, Server: "github"}, []int64{6, 5}},
		{"desc before seq", audit.Filter{Desc: true, BeforeSeq: 4, Limit: 2}, []int64{3, 2}},
		{"everything", audit.Filter{Since: sec(1), Until: sec(9), Grant: "grt_a", Server: "okta", Tool: "list_users",
			Decision: "allow", AfterSeq: 1, BeforeSeq: 10, Limit: 5, Desc: true}, []int64{8}},
		{"no match", audit.Filter{Server: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqs(query(t, s, tt.f)); !slices.Equal(got, tt.want) {
				t.Errorf("Query(%+v) = seqs %v; want %v", tt.f, got, tt.want)
			}
		})
	}
}

func testPaging(t *testing.T, db DB) {
	s := db.Open(t)
	const n = 23
	appendRecs(t, s, records(0, n)...)
	var got []int64
	for after := int64(0); ; {
		page := query(t, s, audit.Filter{AfterSeq: after, Limit: 5})
		if len(page) == 0 {
			break
		}
		got = append(got, seqs(page)...)
		after = page[len(page)-1].Seq
	}
	if !slices.Equal(got, span(1, n)) {
		t.Fatalf("paging forward with AfterSeq = %v; want 1 to %d", got, n)
	}
	got = nil
	for before := int64(0); ; {
		page := query(t, s, audit.Filter{BeforeSeq: before, Limit: 4, Desc: true})
		if len(page) == 0 {
			break
		}
		got = append(got, seqs(page)...)
		before = page[len(page)-1].Seq
	}
	want := span(1, n)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("paging backward with BeforeSeq = %v; want %d to 1", got, n)
	}
	// Following: records appended later come after the last seen.
	appendRecs(t, s, records(n, 2)...)
	if got := seqs(query(t, s, audit.Filter{AfterSeq: n})); !slices.Equal(got, []int64{n + 1, n + 2}) {
		t.Fatalf("Query(AfterSeq %d) after appending 2 = %v; want [%d %d]", n, got, n+1, n+2)
	}
}

func testEmpty(t *testing.T, db DB) {
	s := db.Open(t)
	if got := query(t, s, audit.Filter{}); len(got) != 0 {
		t.Fatalf("Query of an empty store = %d records", len(got))
	}
	rep := wantOK(t, s, 0)
	if rep.HeadSeq != 0 || rep.Head != "" || rep.AnchorSeq != 0 {
		t.Fatalf("Verify of an empty store = %+v; want head and anchor 0", rep)
	}
	if err := s.Append(context.Background(), nil); err != nil {
		t.Fatalf("Append(nil) = %v", err)
	}
	if n, err := s.Prune(context.Background(), at(time.Hour)); n != 0 || err != nil {
		t.Fatalf("Prune of an empty store = %d, %v; want 0, nil", n, err)
	}
	wantOK(t, s, 0)
}

func testBatches(t *testing.T, db DB) {
	s := db.Open(t)
	n := 0
	for size := range 40 {
		appendRecs(t, s, records(n, size%7+1)...)
		n += size%7 + 1
	}
	rep := wantOK(t, s, int64(n))
	last := query(t, s, audit.Filter{Desc: true, Limit: 1})[0]
	if rep.HeadSeq != int64(n) || rep.Head != last.Hash || rep.First != 1 || rep.Last != int64(n) {
		t.Fatalf("Verify = head %d %s, first %d, last %d; want head %d %s, first 1, last %d",
			rep.HeadSeq, rep.Head, rep.First, rep.Last, n, last.Hash, n)
	}
}

// testConcurrent appends from goroutines on two stores of one database:
// the chain stays one.
func testConcurrent(t *testing.T, db DB) {
	stores := []audit.Store{db.Open(t), db.Open(t)}
	const (
		goroutines = 8
		batches    = 15
		size       = 4
	)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			s := stores[g%len(stores)]
			for b := range batches {
				recs := make([]*audit.Record, size)
				for i := range recs {
					recs[i] = &audit.Record{Time: at(0), Decision: "allow", RequestID: fmt.Sprintf("g%d-b%d-%d", g, b, i)}
				}
				if err := s.Append(context.Background(), recs); err != nil {
					errs <- err
					return
				}
				for i, r := range recs {
					if i > 0 && (r.Seq != recs[i-1].Seq+1 || r.Prev != recs[i-1].Hash) {
						errs <- fmt.Errorf("batch g%d-b%d not contiguous: seq %d after %d", g, b, r.Seq, recs[i-1].Seq)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = goroutines * batches * size
	got := query(t, stores[1], audit.Filter{})
	if !slices.Equal(seqs(got), span(1, total)) {
		t.Fatalf("Query after concurrent appends = seqs %v; want 1 to %d", seqs(got), total)
	}
	ids := map[string]bool{}
	for _, r := range got {
		ids[r.RequestID] = true
	}
	if len(ids) != total {
		t.Fatalf("Query after concurrent appends = %d distinct records; want %d", len(ids), total)
	}
	wantOK(t, stores[0], total)
}

func testTwoStores(t *testing.T, db DB) {
	a, b := db.Open(t), db.Open(t)
	appendRecs(t, a, records(0, 2)...)
	if got := seqs(query(t, b, audit.Filter{})); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("Query on a second store = %v; want [1 2]", got)
	}
	appendRecs(t, b, records(2, 1)...)
	if got := seqs(query(t, a, audit.Filter{AfterSeq: 2})); !slices.Equal(got, []int64{3}) {
		t.Fatalf("Query on the first store after the second appended = %v; want [3]", got)
	}
	wantOK(t, a, 3)
	wantOK(t, b, 3)
}

func testReopen(t *testing.T, db DB) {
	s := db.Open(t)
	appendRecs(t, s, records(0, 3)...)
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	s = db.Open(t)
	recs := records(3, 2)
	appendRecs(t, s, recs...)
	if recs[0].Seq != 4 || recs[1].Seq != 5 {
		t.Fatalf("Append after reopening = seqs %d, %d; want 4, 5", recs[0].Seq, recs[1].Seq)
	}
	wantOK(t, s, 5)
}

// tamperCase is damage done to a database of n records (from record(0))
// and what Verify must report: "seq kind" strings, each optionally followed
// by ": " and text the Problem's Detail must contain.
type tamperCase struct {
	name   string
	n      int
	damage func(ctx context.Context, tm Tamper, recs []*audit.Record) error
	want   []string
}

var tamperCases = []tamperCase{
	{"Edit", 8, func(ctx context.Context, tm Tamper, _ []*audit.Record) error {
		return tm.Set(ctx, 5, "message", "nothing to see here")
	}, []string{"5 edited: does not match"}},
	// Someone who knows the encoding edits a record and recomputes its
	// hash: the next record's link gives it away.
	{"EditRehash", 8, func(ctx context.Context, tm Tamper, recs []*audit.Record) error {
		r := *recs[4]
		r.Tool = "innocent_tool"
		if err := tm.Set(ctx, 5, "tool", r.Tool); err != nil {
			return err
		}
		return tm.Set(ctx, 5, "hash", r.Sum())
	}, []string{"5 edited: recomputed"}},
	// The same to the newest record: the head gives it away.
	{"EditRehashNewest", 8, func(ctx context.Context, tm Tamper, recs []*audit.Record) error {
		r := *recs[7]
		r.Message = "edited"
		if err := tm.Set(ctx, 8, "message", r.Message); err != nil {
			return err
		}
		return tm.Set(ctx, 8, "hash", r.Sum())
	}, []string{"8 edited: the head"}},
	{"Unreadable", 6, func(ctx context.Context, tm Tamper, _ []*audit.Record) error {
		return tm.Set(ctx, 3, "counters", "not json")
	}, []string{"3 edited: cannot be read"}},
	{"Delete", 8, func(ctx context.Context, tm Tamper, _ []*audit.Record) error {
		return tm.Delete(ctx, 4)
	}, []string{"4 deleted: record 4 is missing"}},
	{"DeleteSeveral", 8, func(ctx context.Context, tm Tamper, _ []*audit.Record) error {
		for _, seq := range []int64{3, 4, 5} {
			if err := tm.Delete(ctx, seq); err != nil {
				return err
			}
		}
		return nil
	}, []string{"3 deleted: records 3 to 5 are missing"}},
	{"DeleteFirst", 8, func(ctx context.Context, tm Tamper, _ []*audit.Record) error {
		return tm.Delete(ctx, 1)
	}, []string{"1 deleted: record 1 is missing"}},
	{"DeleteNewest", 8, func(ctx context.Context, tm Tamper, _ []*audit.Record) error {
		if err := tm.Delete(ctx, 8); err != nil {
			return err
		}
		return tm.Delete(ctx, 7)
	}, []string{"7 deleted: records 7 to 8 are missing"}},
	{"Swap", 8, func(ctx context.Context, tm Tamper, recs []*audit.Record) error {
		return swap(ctx, tm, recs, 4, 5, true)
	}, []string{"4 reordered: holds record 5", "5 reordered: holds record 4"}},
	{"SwapApart", 8, func(ctx context.Context, tm Tamper, recs []*audit.Record) error {
		return swap(ctx, tm, recs, 2, 7, true)
	}, []string{"2 reordered: holds record 7", "7 reordered: holds record 2"}},
	// Only the contents move; each place keeps its prev and hash.
	{"SwapContent", 8, func(ctx context.Context, tm Tamper, recs []*audit.Record) error {
		return swap(ctx, tm, recs, 3, 4, false)
	}, []string{"3 reordered: holds record 4", "4 reordered: holds record 3"}},
	// Two kinds at once are both reported, in Seq order.
	{"EditAndDelete", 10, func(ctx context.Context, tm Tamper, _ []*audit.Record) error {
		if err := tm.Delete(ctx, 3); err != nil {
			return err
		}
		return tm.Set(ctx, 8, "decision", audit.DecisionApproved)
	}, []string{"3 deleted", "8 edited"}},
}

// testTamper appends tc.n records, damages them, and checks what Verify
// reports.
func testTamper(t *testing.T, db DB, tc tamperCase) {
	s := db.Open(t)
	recs := records(0, tc.n)
	for i, r := range recs {
		r.Decision = []string{audit.DecisionDeny, audit.DecisionAllow}[i%2]
	}
	appendRecs(t, s, recs...)
	wantOK(t, s, int64(tc.n))
	if err := tc.damage(context.Background(), db.Tamper, recs); errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("this damage cannot be done to the database: %v", err)
	} else if err != nil {
		t.Fatalf("tampering: %v", err)
	}
	rep := verify(t, s)
	var got, kinds []string
	for _, p := range rep.Problems {
		got = append(got, fmt.Sprintf("%d %s", p.Seq, p.Kind))
	}
	for _, w := range tc.want {
		k, _, _ := strings.Cut(w, ": ")
		kinds = append(kinds, k)
	}
	if !slices.Equal(got, kinds) || rep.OK() {
		t.Fatalf("Verify after tampering = %v; want %v", rep.Problems, tc.want)
	}
	for i, w := range tc.want {
		if _, detail, ok := strings.Cut(w, ": "); ok && !strings.Contains(rep.Problems[i].Detail, detail) {
			t.Errorf("Problem %d = %v; want its detail to contain %q", i, rep.Problems[i], detail)
		}
	}
	// Another store (the CLI) finds the same.
	if rep2 := verify(t, db.Open(t)); fmt.Sprint(rep2.Problems) != fmt.Sprint(rep.Problems) {
		t.Fatalf("Verify on another store = %v; want %v", rep2.Problems, rep.Problems)
	}
	var found []string
	for _, p := range rep.Problems {
		found = append(found, p.String())
	}
	t.Logf("Verify found: %s", strings.Join(found, "; "))
}

// swap exchanges records a and b but for their seqs; without chain, their
// prev and hash stay in place.
func swap(ctx context.Context, tm Tamper, recs []*audit.Record, a, b int64, chain bool) error {
	const free = 1 << 40
	for _, mv := range [][2]int64{{a, free}, {b, a}, {free, b}} {
		if err := tm.Renumber(ctx, mv[0], mv[1]); err != nil {
			return err
		}
	}
	if chain {
		return nil
	}
	for _, seq := range []int64{a, b} {
		r := recs[seq-1]
		if err := tm.Set(ctx, seq, "prev", r.Prev); err != nil {
			return err
		}
		if err := tm.Set(ctx, seq, "hash", r.Hash); err != nil {
			return err
		}
	}
	return nil
}

func prune(t testing.TB, s audit.Store, before time.Time) int64 {
	t.Helper()
	n, err := s.Prune(context.Background(), before)
	if err != nil {
		t.Fatalf("Prune(t0%+v) = %v", before.Sub(t0), err)
	}
	return n
}

func testPrune(t *testing.T, db DB) {
	s := db.Open(t)
	appendRecs(t, s, records(0, 20)...) // record i+1 at t0+i s
	if n := prune(t, s, at(-time.Second)); n != 0 {
		t.Fatalf("Prune before the first record = %d; want 0", n)
	}
	if n := prune(t, s, at(10*time.Second)); n != 10 {
		t.Fatalf("Prune(t0+10s) = %d; want 10", n)
	}
	if got := seqs(query(t, s, audit.Filter{})); !slices.Equal(got, span(11, 20)) {
		t.Fatalf("Query after Prune = %v; want 11 to 20", got)
	}
	rep := wantOK(t, s, 10)
	if rep.AnchorSeq != 10 || rep.Anchor == "" {
		t.Fatalf("Verify after Prune = anchor %d %q; want 10", rep.AnchorSeq, rep.Anchor)
	}
	appendRecs(t, s, records(20, 5)...)
	wantOK(t, s, 15)
	if n := prune(t, s, at(time.Hour)); n != 15 {
		t.Fatalf("Prune of everything = %d; want 15", n)
	}
	rep = wantOK(t, s, 0)
	if rep.AnchorSeq != 25 || rep.HeadSeq != 25 || rep.Anchor != rep.Head {
		t.Fatalf("Verify after pruning everything = anchor %d, head %d; want both 25, same hash", rep.AnchorSeq, rep.HeadSeq)
	}
	recs := records(30, 2)
	appendRecs(t, s, recs...)
	if recs[0].Seq != 26 {
		t.Fatalf("Append after pruning everything = seq %d; want 26", recs[0].Seq)
	}
	wantOK(t, s, 2)
	// Another store sees the anchor.
	wantOK(t, db.Open(t), 2)
}

// testPruneOutOfOrder checks that Prune deletes only the oldest records up
// to the first that is not old enough, so the chain has no holes.
func testPruneOutOfOrder(t *testing.T, db DB) {
	s := db.Open(t)
	recs := records(0, 6)
	recs[3].Time = at(time.Hour) // record 4 came from a clock ahead
	appendRecs(t, s, recs...)
	if n := prune(t, s, at(time.Minute)); n != 3 {
		t.Fatalf("Prune = %d; want 3 (records 1 to 3, up to the newer record 4)", n)
	}
	if got := seqs(query(t, s, audit.Filter{})); !slices.Equal(got, span(4, 6)) {
		t.Fatalf("Query after Prune = %v; want 4 to 6", got)
	}
	wantOK(t, s, 3)
}

// testPruneDamaged checks that Prune does not delete the evidence of
// tampering.
func testPruneDamaged(t *testing.T, db DB) {
	s := db.Open(t)
	appendRecs(t, s, records(0, 10)...)
	if err := db.Tamper.Set(context.Background(), 3, "message", "edited"); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(context.Background(), at(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "record 3: edited") {
		t.Fatalf("Prune of damaged records = %d, %v; want an error naming record 3", n, err)
	}
	if got := query(t, s, audit.Filter{}); len(got) != 10 {
		t.Fatalf("Query after a refused Prune = %d records; want 10", len(got))
	}
	if rep := verify(t, s); len(rep.Problems) != 1 || rep.Problems[0].Seq != 3 {
		t.Fatalf("Verify after a refused Prune = %v; want record 3 edited", rep.Problems)
	}
}

// testPruneLarge prunes more records than the SQL stores delete in one
// transaction.
func testPruneLarge(t *testing.T, db DB) {
	s := db.Open(t)
	const n = 2600
	for i := 0; i < n; i += 200 {
		recs := make([]*audit.Record, 200)
		for j := range recs {
			recs[j] = &audit.Record{Time: at(time.Duration(i+j) * time.Millisecond), Decision: "allow"}
		}
		appendRecs(t, s, recs...)
	}
	if got := prune(t, s, at(2500*time.Millisecond)); got != 2500 {
		t.Fatalf("Prune = %d; want 2500", got)
	}
	rep := wantOK(t, s, 100)
	if rep.AnchorSeq != 2500 {
		t.Fatalf("Verify after Prune = anchor %d; want 2500", rep.AnchorSeq)
	}
}

func testClosed(t *testing.T, db DB) {
	s := db.Open(t)
	appendRecs(t, s, records(0, 1)...)
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	ctx := context.Background()
	_, qerr := s.Query(ctx, audit.Filter{})
	_, verr := s.Verify(ctx)
	_, perr := s.Prune(ctx, at(time.Hour))
	for what, err := range map[string]error{
		"Append": s.Append(ctx, records(1, 1)), "Query": qerr, "Verify": verr, "Prune": perr,
	} {
		if !errors.Is(err, audit.ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", what, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// testWriterSync checks the sync mode's promise: when Write returns, the
// record is stored, as another store on the database (another process)
// sees; concurrent writers share appends.
func testWriterSync(t *testing.T, db DB) {
	s, other := db.Open(t), db.Open(t)
	w := audit.NewWriter(s, &audit.WriterOptions{Sync: true, FlushEvery: time.Hour})
	defer w.Close(context.Background())
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			label := fmt.Sprintf("writer-%d", g)
			for i := range each {
				id := fmt.Sprintf("%s-%d", label, i)
				r := &audit.Record{RequestID: id, GrantLabel: label, Decision: "allow"}
				if err := w.Write(context.Background(), r); err != nil {
					errs <- fmt.Errorf("Write(%s) = %w", id, err)
					return
				}
				got, err := other.Query(context.Background(), audit.Filter{Grant: label, Desc: true, Limit: 1})
				if err != nil {
					errs <- err
					return
				}
				if len(got) != 1 || got[0].RequestID != id || got[0].Seq != r.Seq || got[0].Hash != r.Hash {
					errs <- fmt.Errorf("after Write(%s) returned with seq %d, another store's newest record of %s = %v", id, r.Seq, label, got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v", err)
	}
	wantOK(t, other, writers*each)
}

// testWriterClose checks that Close stores every record written, in the
// order written.
func testWriterClose(t *testing.T, db DB) {
	s := db.Open(t)
	w := audit.NewWriter(s, &audit.WriterOptions{FlushEvery: time.Hour, MaxBatch: 100})
	const n = 1050
	for i := range n {
		if err := w.Write(context.Background(), &audit.Record{RequestID: fmt.Sprint(i), Decision: "allow"}); err != nil {
			t.Fatalf("Write = %v", err)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v", err)
	}
	got := query(t, db.Open(t), audit.Filter{})
	if len(got) != n {
		t.Fatalf("after Close, the store holds %d records; want %d", len(got), n)
	}
	for i, r := range got {
		if r.RequestID != fmt.Sprint(i) || r.Time.IsZero() {
			t.Fatalf("record %d = request %s at %v; want request %d, stamped", r.Seq, r.RequestID, r.Time, i)
		}
	}
	if err := w.Write(context.Background(), &audit.Record{}); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("Write after Close = %v; want ErrClosed", err)
	}
	wantOK(t, s, n)
}

// testWriterFlush checks that Flush stores what was written before it.
func testWriterFlush(t *testing.T, db DB) {
	s, other := db.Open(t), db.Open(t)
	w := audit.NewWriter(s, &audit.WriterOptions{FlushEvery: time.Hour})
	defer w.Close(context.Background())
	for i := range 3 {
		if err := w.Write(context.Background(), &audit.Record{RequestID: fmt.Sprint(i), Decision: "deny"}); err != nil {
			t.Fatalf("Write = %v", err)
		}
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatalf("Flush = %v", err)
	}
	if got := seqs(query(t, other, audit.Filter{})); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("after Flush, another store holds %v; want [1 2 3]", got)
	}
}

// Benchmark measures s through a Writer: "Append", records per second in
// the default mode, with batching; "AppendSync", records per second from
// concurrent writers in sync mode, each Write waiting for its record to
// be stored.
func Benchmark(b *testing.B, s audit.Store) {
	ctx := context.Background()
	tmpl := record(1)
	b.Run("Append", func(b *testing.B) {
		b.ReportAllocs()
		w := audit.NewWriter(s, &audit.WriterOptions{MaxBatch: 1000})
		start := time.Now()
		n := 0
		for b.Loop() {
			r := *tmpl
			if err := w.Write(ctx, &r); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
	})
	b.Run("AppendSync", func(b *testing.B) {
		b.ReportAllocs()
		w := audit.NewWriter(s, &audit.WriterOptions{Sync: true})
		b.SetParallelism(16)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := *tmpl
				if err := w.Write(ctx, &r); err != nil {
					b.Error(err)
					return
				}
			}
		})
		elapsed := time.Since(start)
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	})
}
