// Package approvaltest is the contract every approval.Store passes: create,
// get and list; decisions, one winner among racing deciders and a clear
// answer for the others; expiry; single use of an approval under
// concurrency, bound to its key; finding a pending approval for a retried
// call; a second store on the same database (another process or replica)
// seeing every change; and everything kept when the stores are closed and
// the database opened again. Each backend's tests call Run.
package approvaltest

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

	"github.com/toolgate/toolgate/internal/approval"
)

// t0 is the suite's epoch. The times the suite passes are whole
// milliseconds after it, which every store keeps exactly.
var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// Opener opens a store on one database. The suite may call it several
// times for the same database, with stores open at once, and closes every
// store it returns.
type Opener func(t *testing.T) approval.Store

// Run runs the contract suite. newDB is called once per subtest: it
// prepares an empty database, registers its removal with t.Cleanup, and
// returns an Opener for it.
func Run(t *testing.T, newDB func(t *testing.T) Opener) {
	tests := []struct {
		name string
		f    func(t *testing.T, open Opener)
	}{
		{"CreateGet", testCreateGet},
		{"Invalid", testInvalid},
		{"List", testList},
		{"Decide", testDecide},
		{"DecideExpired", testDecideExpired},
		{"RacingDeciders", testRacingDeciders},
		{"Consume", testConsume},
		{"ConsumeKey", testConsumeKey},
		{"ConsumeConcurrent", testConsumeConcurrent},
		{"FindPending", testFindPending},
		{"Expire", testExpire},
		{"TwoStores", testTwoStores},
		{"Reopen", testReopen},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open := newDB(t)
			tt.f(t, func(t *testing.T) approval.Store {
				t.Helper()
				s := open(t)
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

var ctx = context.Background()

// key is the key of the suite's usual call.
var key = approval.Key{GrantID: "grt_aaaaaaaaaaaaaaaa", Server: "okta", Tool: "provision_applications", Digest: "sha256:0f1e2d"}

// newApproval returns an approval for k, created at created and expiring
// an hour later, with every field set.
func newApproval(k approval.Key, created time.Time) *approval.Approval {
	a := approval.New(k, created, created.Add(time.Hour))
	a.GrantLabel = "alice-laptop"
	a.Session = "session-1"
	a.Rule = "/tools/provision_applications/approve_if/0"
	a.PolicyReason = "more than 50 users"
	a.Preview = json.RawMessage(`{"userIds": ["u1", "u2"], "token": "[redacted]"}`)
	return a
}

func create(t testing.TB, s approval.Store, k approval.Key, created time.Time) *approval.Approval {
	t.Helper()
	a := newApproval(k, created)
	if err := s.Create(ctx, a); err != nil {
		t.Fatalf("Create(%s) = %v", a.ID, err)
	}
	return a
}

func get(t testing.TB, s approval.Store, id string) *approval.Approval {
	t.Helper()
	a, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s) = %v", id, err)
	}
	return a
}

func decide(t testing.TB, s approval.Store, id string, approve bool, by string, when time.Time) *approval.Approval {
	t.Helper()
	a, err := s.Decide(ctx, id, approval.Decision{Approve: approve, By: by, Reason: "reason of " + by, Via: approval.ViaCLI, At: when})
	if err != nil {
		t.Fatalf("Decide(%s, %v, %s) = %v", id, approve, by, err)
	}
	return a
}

func list(t testing.TB, s approval.Store, f approval.Filter) []*approval.Approval {
	t.Helper()
	as, err := s.List(ctx, f)
	if err != nil {
		t.Fatalf("List(%+v) = %v", f, err)
	}
	return as
}

// same reports whether a and b hold the same values. Previews are compared
// as JSON text, byte for byte.
func same(a, b *approval.Approval) bool {
	return a.ID == b.ID && a.GrantID == b.GrantID && a.GrantLabel == b.GrantLabel && a.Session == b.Session &&
		a.Server == b.Server && a.Tool == b.Tool && a.Rule == b.Rule && a.PolicyReason == b.PolicyReason &&
		string(a.Preview) == string(b.Preview) && a.Digest == b.Digest &&
		a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires) && a.Status == b.Status &&
		a.DecidedBy == b.DecidedBy && a.DecisionReason == b.DecisionReason && a.DecidedAt.Equal(b.DecidedAt) &&
		a.Via == b.Via && a.ConsumedAt.Equal(b.ConsumedAt)
}

func show(a *approval.Approval) string {
	if a == nil {
		return "<nil>"
	}
	b, _ := json.Marshal(a)
	return string(b)
}

func ids(as []*approval.Approval) []string {
	var s []string
	for _, a := range as {
		s = append(s, a.ID)
	}
	return s
}

func testCreateGet(t *testing.T, open Opener) {
	s := open(t)
	a := newApproval(key, at(0))
	// Another time zone: stores keep the instant, in UTC.
	east := time.FixedZone("east", 5*3600)
	a.Created, a.Expires = a.Created.In(east), a.Expires.In(east)
	if err := s.Create(ctx, a); err != nil {
		t.Fatalf("Create = %v", err)
	}
	got := get(t, s, a.ID)
	if !same(got, a) {
		t.Errorf("Get = %s; want %s", show(got), show(a))
	}
	for _, tm := range []time.Time{got.Created, got.Expires} {
		if tm.Location() != time.UTC {
			t.Errorf("Get returned a time in %v; want UTC", tm.Location())
		}
	}

	// No preview at all.
	b := approval.New(approval.Key{Server: "okta", Tool: "create_user", Digest: "d"}, at(time.Second), at(time.Hour))
	if err := s.Create(ctx, b); err != nil {
		t.Fatalf("Create without preview or grant = %v", err)
	}
	if got := get(t, s, b.ID); !same(got, b) || got.Preview != nil {
		t.Errorf("Get = %s; want %s, with a nil preview", show(got), show(b))
	}

	if err := s.Create(ctx, a); !errors.Is(err, approval.ErrExists) {
		t.Errorf("Create of an existing ID = %v; want ErrExists", err)
	}
	for _, id := range []string{approval.NewID(), "", "nonsense", "apr_' OR 1=1 --"} {
		if got, err := s.Get(ctx, id); !errors.Is(err, approval.ErrNotFound) {
			t.Errorf("Get(%q) = %s, %v; want ErrNotFound", id, show(got), err)
		}
	}
}

func testInvalid(t *testing.T, open Opener) {
	s := open(t)
	for _, tt := range []struct {
		name string
		mod  func(a *approval.Approval)
	}{
		{"bad ID", func(a *approval.Approval) { a.ID = "apr_x" }},
		{"no server", func(a *approval.Approval) { a.Server = "" }},
		{"no tool", func(a *approval.Approval) { a.Tool = "" }},
		{"no digest", func(a *approval.Approval) { a.Digest = "" }},
		{"control character", func(a *approval.Approval) { a.Tool = "a\nb" }},
		{"preview not JSON", func(a *approval.Approval) { a.Preview = json.RawMessage(`{"a":`) }},
		{"preview too large", func(a *approval.Approval) {
			a.Preview = json.RawMessage(`"` + strings.Repeat("x", approval.MaxPreview) + `"`)
		}},
		{"no creation time", func(a *approval.Approval) { a.Created = time.Time{} }},
		{"expires at creation", func(a *approval.Approval) { a.Expires = a.Created }},
		{"decided", func(a *approval.Approval) { a.Status = approval.Approved }},
		{"decided by", func(a *approval.Approval) { a.DecidedBy = "alice" }},
		{"consumed", func(a *approval.Approval) { a.ConsumedAt = a.Created }},
	} {
		a := newApproval(key, at(0))
		tt.mod(a)
		if err := s.Create(ctx, a); !errors.Is(err, approval.ErrInvalid) {
			t.Errorf("Create(%s) = %v; want ErrInvalid", tt.name, err)
		}
	}
	if as := list(t, s, approval.Filter{}); len(as) != 0 {
		t.Errorf("List after invalid Creates = %v; want none", ids(as))
	}

	a := create(t, s, key, at(0))
	for _, tt := range []struct {
		name string
		d    approval.Decision
	}{
		{"no one", approval.Decision{Approve: true, Via: approval.ViaCLI, At: at(time.Minute)}},
		{"unknown via", approval.Decision{Approve: true, By: "alice", Via: "fax", At: at(time.Minute)}},
		{"no time", approval.Decision{Approve: true, By: "alice", Via: approval.ViaCLI}},
		{"reason not UTF-8", approval.Decision{By: "alice", Reason: "\xff", Via: approval.ViaCLI, At: at(time.Minute)}},
	} {
		if got, err := s.Decide(ctx, a.ID, tt.d); !errors.Is(err, approval.ErrInvalid) {
			t.Errorf("Decide(%s) = %s, %v; want ErrInvalid", tt.name, show(got), err)
		}
	}
	if got := get(t, s, a.ID); got.Status != approval.Pending {
		t.Errorf("after invalid decisions, status = %s; want pending", got.Status)
	}
	d := approval.Decision{Approve: true, By: "alice", Via: approval.ViaCLI, At: at(time.Minute)}
	for _, id := range []string{approval.NewID(), "nonsense"} {
		if got, err := s.Decide(ctx, id, d); !errors.Is(err, approval.ErrNotFound) {
			t.Errorf("Decide(%q) = %s, %v; want ErrNotFound", id, show(got), err)
		}
	}
}

func testList(t *testing.T, open Opener) {
	s := open(t)
	other := key
	other.GrantID = "grt_bbbbbbbbbbbbbbbb"
	docs := key
	docs.Server = "docs"
	// Oldest first; two created at the same time are ordered by ID.
	a1 := create(t, s, key, at(0))
	a2 := create(t, s, other, at(time.Second))
	a3 := create(t, s, docs, at(2*time.Second))
	a4 := create(t, s, key, at(3*time.Second))
	a5 := create(t, s, key, at(3*time.Second))
	decide(t, s, a2.ID, true, "alice", at(time.Minute))
	decide(t, s, a3.ID, false, "bob", at(time.Minute))
	if a4.ID < a5.ID {
		a4, a5 = a5, a4
	}
	for _, tt := range []struct {
		f    approval.Filter
		want []*approval.Approval
	}{
		{approval.Filter{}, []*approval.Approval{a4, a5, a3, a2, a1}},
		{approval.Filter{Status: approval.Pending}, []*approval.Approval{a4, a5, a1}},
		{approval.Filter{Status: approval.Approved}, []*approval.Approval{a2}},
		{approval.Filter{Status: approval.Expired}, nil},
		{approval.Filter{Server: "docs"}, []*approval.Approval{a3}},
		{approval.Filter{GrantID: other.GrantID}, []*approval.Approval{a2}},
		{approval.Filter{Server: "okta", Status: approval.Pending, GrantID: key.GrantID}, []*approval.Approval{a4, a5, a1}},
		{approval.Filter{Limit: 2}, []*approval.Approval{a4, a5}},
		{approval.Filter{Status: approval.Pending, Limit: 1}, []*approval.Approval{a4}},
	} {
		got := list(t, s, tt.f)
		if !slices.Equal(ids(got), ids(tt.want)) {
			t.Errorf("List(%+v) = %v; want %v", tt.f, ids(got), ids(tt.want))
		}
	}
	got := list(t, s, approval.Filter{Status: approval.Approved})
	if len(got) != 1 || got[0].DecidedBy != "alice" || !got[0].DecidedAt.Equal(at(time.Minute)) {
		t.Errorf("List(approved) = %s; want a2 decided by alice at t0+1m", show(got[0]))
	}
}

func testDecide(t *testing.T, open Opener) {
	s := open(t)
	for _, approve := range []bool{true, false} {
		a := create(t, s, key, at(0))
		d := approval.Decision{Approve: approve, By: "alice", Reason: "looks fine\nsecond line", Via: approval.ViaAPI, At: at(time.Minute)}
		got, err := s.Decide(ctx, a.ID, d)
		if err != nil {
			t.Fatalf("Decide(%v) = %v", approve, err)
		}
		want := a.Clone()
		want.Status = approval.Denied
		if approve {
			want.Status = approval.Approved
		}
		want.DecidedBy, want.DecisionReason, want.Via, want.DecidedAt = d.By, d.Reason, d.Via, d.At
		if !same(got, want) {
			t.Errorf("Decide(%v) = %s; want %s", approve, show(got), show(want))
		}
		if got := get(t, s, a.ID); !same(got, want) {
			t.Errorf("Get after Decide(%v) = %s; want %s", approve, show(got), show(want))
		}

		// A second decision, either way, is refused with the first.
		again := approval.Decision{Approve: !approve, By: "bob", Via: approval.ViaWebhook, At: at(2 * time.Minute)}
		got, err = s.Decide(ctx, a.ID, again)
		var de *approval.DecidedError
		switch {
		case got != nil || !errors.As(err, &de):
			t.Fatalf("second Decide = %s, %v; want a *DecidedError", show(got), err)
		case !errors.Is(err, approval.ErrDecided) || errors.Is(err, approval.ErrExpired):
			t.Errorf("second Decide = %v; want ErrDecided, not ErrExpired", err)
		case !same(de.Approval, want):
			t.Errorf("second Decide's error holds %s; want %s", show(de.Approval), show(want))
		case !strings.Contains(err.Error(), "already "+want.Status+" by alice"):
			t.Errorf("second Decide = %q; want it to say who decided", err)
		}
		if got := get(t, s, a.ID); !same(got, want) {
			t.Errorf("Get after a second Decide = %s; want %s", show(got), show(want))
		}
	}
}

func testDecideExpired(t *testing.T, open Opener) {
	s := open(t)
	a := create(t, s, key, at(0))
	// Just before the expiry is in time.
	b := create(t, s, key, at(0))
	decide(t, s, b.ID, true, "alice", a.Expires.Add(-time.Millisecond))

	for i := range 2 {
		got, err := s.Decide(ctx, a.ID, approval.Decision{Approve: true, By: "alice", Via: approval.ViaCLI, At: a.Expires})
		var de *approval.DecidedError
		if !errors.Is(err, approval.ErrExpired) || errors.Is(err, approval.ErrDecided) || !errors.As(err, &de) {
			t.Fatalf("Decide #%d at the expiry = %s, %v; want a *DecidedError that is ErrExpired", i, show(got), err)
		}
		if de.Approval.Status != approval.Expired || de.Approval.ID != a.ID {
			t.Errorf("Decide #%d at the expiry: error holds %s; want it expired", i, show(de.Approval))
		}
	}
	want := a.Clone()
	want.Status = approval.Expired
	if got := get(t, s, a.ID); !same(got, want) {
		t.Errorf("Get after a late Decide = %s; want %s", show(got), show(want))
	}
}

func testRacingDeciders(t *testing.T, open Opener) {
	stores := []approval.Store{open(t), open(t)}
	const n = 16
	for round := range 3 {
		a := create(t, stores[0], key, at(time.Duration(round)*time.Second))
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins []*approval.Approval
			lost []*approval.DecidedError
			errs []error
		)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				d := approval.Decision{Approve: i%2 == 0, By: fmt.Sprintf("approver-%d", i), Via: approval.ViaAPI, At: at(time.Minute)}
				got, err := stores[i%2].Decide(ctx, a.ID, d)
				mu.Lock()
				defer mu.Unlock()
				var de *approval.DecidedError
				switch {
				case err == nil:
					wins = append(wins, got)
				case errors.As(err, &de) && errors.Is(err, approval.ErrDecided):
					lost = append(lost, de)
				default:
					errs = append(errs, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: Decide = %v", round, errs)
		}
		if len(wins) != 1 {
			t.Fatalf("round %d: %d Decides won; want exactly 1", round, len(wins))
		}
		w := wins[0]
		for _, de := range lost {
			if !same(de.Approval, w) {
				t.Errorf("round %d: a loser was told %s; want the winner %s", round, show(de.Approval), show(w))
			}
		}
		for _, s := range stores {
			if got := get(t, s, a.ID); !same(got, w) {
				t.Errorf("round %d: Get = %s; want the winner %s", round, show(got), show(w))
			}
		}
	}
}

func testConsume(t *testing.T, open Opener) {
	s := open(t)
	if got, err := s.Consume(ctx, key, at(time.Minute)); !errors.Is(err, approval.ErrNotFound) {
		t.Fatalf("Consume with no approvals = %s, %v; want ErrNotFound", show(got), err)
	}
	pending := create(t, s, key, at(0))
	denied := create(t, s, key, at(0))
	decide(t, s, denied.ID, false, "bob", at(time.Minute))
	if got, err := s.Consume(ctx, key, at(2*time.Minute)); !errors.Is(err, approval.ErrNotFound) {
		t.Fatalf("Consume with only pending and denied approvals = %s, %v; want ErrNotFound", show(got), err)
	}

	// Two approved: the one decided first is used first.
	second := create(t, s, key, at(0))
	first := create(t, s, key, at(time.Second))
	decide(t, s, first.ID, true, "alice", at(time.Minute))
	want := decide(t, s, second.ID, true, "alice", at(2*time.Minute))
	for i, w := range []*approval.Approval{get(t, s, first.ID), want} {
		got, err := s.Consume(ctx, key, at(3*time.Minute))
		w.ConsumedAt = at(3 * time.Minute)
		if err != nil || !same(got, w) {
			t.Fatalf("Consume #%d = %s, %v; want %s", i, show(got), err, show(w))
		}
		if got := get(t, s, w.ID); !same(got, w) {
			t.Errorf("Get after Consume #%d = %s; want %s", i, show(got), show(w))
		}
	}
	if got, err := s.Consume(ctx, key, at(4*time.Minute)); !errors.Is(err, approval.ErrNotFound) {
		t.Fatalf("Consume once every approval is used = %s, %v; want ErrNotFound", show(got), err)
	}
	if got := get(t, s, pending.ID); got.Status != approval.Pending || !got.ConsumedAt.IsZero() {
		t.Errorf("the pending approval became %s", show(got))
	}

	// An approval not used before it expires cannot be used after.
	late := create(t, s, key, at(time.Hour))
	decide(t, s, late.ID, true, "alice", at(time.Hour+time.Minute))
	if got, err := s.Consume(ctx, key, late.Expires); !errors.Is(err, approval.ErrNotFound) {
		t.Errorf("Consume at the expiry = %s, %v; want ErrNotFound", show(got), err)
	}
	if got, err := s.Consume(ctx, key, late.Expires.Add(-time.Millisecond)); err != nil || got.ID != late.ID {
		t.Errorf("Consume just before the expiry = %s, %v; want %s", show(got), err, late.ID)
	}
}

func testConsumeKey(t *testing.T, open Opener) {
	s := open(t)
	a := create(t, s, key, at(0))
	decide(t, s, a.ID, true, "alice", at(time.Minute))
	for _, tt := range []struct {
		name string
		mod  func(k *approval.Key)
	}{
		{"another digest", func(k *approval.Key) { k.Digest = "sha256:ffff" }},
		{"another tool", func(k *approval.Key) { k.Tool = "create_user" }},
		{"another grant", func(k *approval.Key) { k.GrantID = "grt_bbbbbbbbbbbbbbbb" }},
		{"no grant", func(k *approval.Key) { k.GrantID = "" }},
		{"another server", func(k *approval.Key) { k.Server = "docs" }},
	} {
		k := key
		tt.mod(&k)
		if got, err := s.Consume(ctx, k, at(2*time.Minute)); !errors.Is(err, approval.ErrNotFound) {
			t.Errorf("Consume(%s) = %s, %v; want ErrNotFound", tt.name, show(got), err)
		}
		if got, err := s.FindPending(ctx, k, at(2*time.Minute)); !errors.Is(err, approval.ErrNotFound) {
			t.Errorf("FindPending(%s) = %s, %v; want ErrNotFound", tt.name, show(got), err)
		}
	}
	if got, err := s.Consume(ctx, key, at(2*time.Minute)); err != nil || got.ID != a.ID {
		t.Errorf("Consume with the key = %s, %v; want %s", show(got), err, a.ID)
	}
}

func testConsumeConcurrent(t *testing.T, open Opener) {
	stores := []approval.Store{open(t), open(t)}
	const (
		approved  = 3
		consumers = 24
	)
	want := make(map[string]bool)
	for i := range approved {
		a := create(t, stores[i%2], key, at(time.Duration(i)*time.Second))
		decide(t, stores[0], a.ID, true, "alice", at(time.Minute))
		want[a.ID] = true
	}
	// Another key's approval is not touched.
	other := key
	other.Digest = "sha256:other"
	o := create(t, stores[0], other, at(0))
	decide(t, stores[0], o.ID, true, "alice", at(time.Minute))

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  = make(map[string]int)
		errs []error
	)
	start := make(chan struct{})
	for i := range consumers {
		wg.Go(func() {
			<-start
			a, err := stores[i%2].Consume(ctx, key, at(2*time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				got[a.ID]++
			case !errors.Is(err, approval.ErrNotFound):
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Consume = %v", errs)
	}
	for id, n := range got {
		if n != 1 || !want[id] {
			t.Errorf("approval %s was consumed %d times (one of the approved: %v); want once each", id, n, want[id])
		}
	}
	if len(got) != approved {
		t.Errorf("%d approvals were consumed; want %d", len(got), approved)
	}
	if a := get(t, stores[1], o.ID); !a.ConsumedAt.IsZero() {
		t.Errorf("the other key's approval was consumed: %s", show(a))
	}
}

func testFindPending(t *testing.T, open Opener) {
	s := open(t)
	if got, err := s.FindPending(ctx, key, at(0)); !errors.Is(err, approval.ErrNotFound) {
		t.Fatalf("FindPending with no approvals = %s, %v; want ErrNotFound", show(got), err)
	}
	older := create(t, s, key, at(0))
	newer := create(t, s, key, at(time.Second))
	got, err := s.FindPending(ctx, key, at(time.Minute))
	if err != nil || !same(got, newer) {
		t.Fatalf("FindPending = %s, %v; want the newer %s", show(got), err, show(newer))
	}
	decide(t, s, newer.ID, false, "bob", at(time.Minute))
	if got, err := s.FindPending(ctx, key, at(time.Minute)); err != nil || got.ID != older.ID {
		t.Fatalf("FindPending once the newer is denied = %s, %v; want the older %s", show(got), err, older.ID)
	}
	if got, err := s.FindPending(ctx, key, older.Expires); !errors.Is(err, approval.ErrNotFound) {
		t.Errorf("FindPending at the older's expiry = %s, %v; want ErrNotFound", show(got), err)
	}
	decide(t, s, older.ID, true, "alice", at(2*time.Minute))
	if got, err := s.FindPending(ctx, key, at(2*time.Minute)); !errors.Is(err, approval.ErrNotFound) {
		t.Errorf("FindPending once both are decided = %s, %v; want ErrNotFound", show(got), err)
	}
}

func testExpire(t *testing.T, open Opener) {
	s := open(t)
	a := create(t, s, key, at(0))                   // expires at 1h
	b := create(t, s, key, at(30*time.Minute))      // 1h30m
	c := create(t, s, key, at(2*time.Hour))         // 3h
	d := create(t, s, key, at(0))                   // approved
	e := create(t, s, key, at(10*time.Millisecond)) // denied
	decide(t, s, d.ID, true, "alice", at(time.Minute))
	decide(t, s, e.ID, false, "bob", at(time.Minute))

	if n, err := s.Expire(ctx, at(time.Hour-time.Millisecond)); err != nil || n != 0 {
		t.Errorf("Expire before any expiry = %d, %v; want 0", n, err)
	}
	if n, err := s.Expire(ctx, at(90*time.Minute)); err != nil || n != 2 {
		t.Errorf("Expire at 1h30m = %d, %v; want 2", n, err)
	}
	if n, err := s.Expire(ctx, at(90*time.Minute)); err != nil || n != 0 {
		t.Errorf("Expire again = %d, %v; want 0", n, err)
	}
	for _, tt := range []struct {
		a    *approval.Approval
		want string
	}{{a, approval.Expired}, {b, approval.Expired}, {c, approval.Pending}, {d, approval.Approved}, {e, approval.Denied}} {
		got := get(t, s, tt.a.ID)
		if got.Status != tt.want {
			t.Errorf("after Expire, %s is %s; want %s", tt.a.ID, got.Status, tt.want)
		}
		if tt.want == approval.Expired && (got.DecidedBy != "" || !got.DecidedAt.IsZero() || got.Via != "") {
			t.Errorf("an expired approval has a decision: %s", show(got))
		}
	}
	if got := list(t, s, approval.Filter{Status: approval.Expired}); !slices.Equal(ids(got), []string{b.ID, a.ID}) {
		t.Errorf("List(expired) = %v; want %v", ids(got), []string{b.ID, a.ID})
	}
	if _, err := s.Decide(ctx, a.ID, approval.Decision{Approve: true, By: "alice", Via: approval.ViaCLI, At: at(time.Minute)}); !errors.Is(err, approval.ErrExpired) {
		t.Errorf("Decide of an expired approval, at a time before its expiry = %v; want ErrExpired", err)
	}
}

func testTwoStores(t *testing.T, open Opener) {
	a, b := open(t), open(t)
	x := create(t, a, key, at(0))
	if got := get(t, b, x.ID); !same(got, x) {
		t.Fatalf("Get on the other store = %s; want %s", show(got), show(x))
	}
	if got, err := b.FindPending(ctx, key, at(time.Minute)); err != nil || got.ID != x.ID {
		t.Fatalf("FindPending on the other store = %s, %v; want %s", show(got), err, x.ID)
	}
	decided := decide(t, b, x.ID, true, "alice", at(time.Minute))
	if got := get(t, a, x.ID); !same(got, decided) {
		t.Fatalf("Get after a Decide on the other store = %s; want %s", show(got), show(decided))
	}
	if _, err := a.Decide(ctx, x.ID, approval.Decision{By: "bob", Via: approval.ViaCLI, At: at(2 * time.Minute)}); !errors.Is(err, approval.ErrDecided) {
		t.Fatalf("Decide after a Decide on the other store = %v; want ErrDecided", err)
	}
	if _, err := a.Consume(ctx, key, at(3*time.Minute)); err != nil {
		t.Fatalf("Consume = %v", err)
	}
	if got, err := b.Consume(ctx, key, at(3*time.Minute)); !errors.Is(err, approval.ErrNotFound) {
		t.Fatalf("Consume after a Consume on the other store = %s, %v; want ErrNotFound", show(got), err)
	}
	y := create(t, b, key, at(time.Hour))
	if n, err := a.Expire(ctx, y.Expires); err != nil || n != 1 {
		t.Fatalf("Expire of the other store's approval = %d, %v; want 1", n, err)
	}
	if got := list(t, b, approval.Filter{}); len(got) != 2 || got[0].Status != approval.Expired || !got[1].ConsumedAt.Equal(at(3*time.Minute)) {
		t.Errorf("List on the other store = %v; want y expired and x consumed", got)
	}
}

func testReopen(t *testing.T, open Opener) {
	s := open(t)
	pending := create(t, s, key, at(0))
	approved := create(t, s, key, at(time.Second))
	denied := create(t, s, key, at(2*time.Second))
	consumed := create(t, s, key, at(3*time.Second))
	decide(t, s, denied.ID, false, "bob", at(time.Minute))
	decide(t, s, consumed.ID, true, "carol", at(time.Minute))
	if _, err := s.Consume(ctx, key, at(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	decide(t, s, approved.ID, true, "alice", at(3*time.Minute))
	before := list(t, s, approval.Filter{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	r := open(t)
	after := list(t, r, approval.Filter{})
	if len(after) != len(before) {
		t.Fatalf("List after reopening = %v; want %v", ids(after), ids(before))
	}
	for i := range before {
		if !same(after[i], before[i]) {
			t.Errorf("after reopening, %s", show(after[i]))
			t.Errorf("before closing, %s", show(before[i]))
		}
	}
	// What was pending can still be decided, and used once.
	decide(t, r, pending.ID, true, "alice", at(4*time.Minute))
	for _, want := range []string{approved.ID, pending.ID} {
		if got, err := r.Consume(ctx, key, at(5*time.Minute)); err != nil || got.ID != want {
			t.Errorf("Consume after reopening = %s, %v; want %s", show(got), err, want)
		}
	}
}

func testClosed(t *testing.T, open Opener) {
	s := open(t)
	a := create(t, s, key, at(0))
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
	d := approval.Decision{Approve: true, By: "alice", Via: approval.ViaCLI, At: at(time.Minute)}
	for name, err := range map[string]error{
		"Create":      s.Create(ctx, newApproval(key, at(0))),
		"Get":         second(s.Get(ctx, a.ID)),
		"List":        second(s.List(ctx, approval.Filter{})),
		"Decide":      second(s.Decide(ctx, a.ID, d)),
		"Consume":     second(s.Consume(ctx, key, at(time.Minute))),
		"FindPending": second(s.FindPending(ctx, key, at(time.Minute))),
		"Expire":      second(s.Expire(ctx, at(time.Minute))),
	} {
		if !errors.Is(err, approval.ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }
