// Package granttest is the contract every grant.Store passes: create,
// lookup, list and revoke; labels unique among live grants; expiry; hashes
// kept out of sight; concurrency; Touch kept across Close; and a second
// store on the same database (another process or replica) seeing every
// change at its next Lookup. Each backend's tests call Run, and Benchmark
// for the hot path.
package granttest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/grant"
)

// t0 is the suite's epoch. The times the suite passes are whole
// milliseconds after it, which every store keeps exactly.
var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// Opener opens a store on one database. The suite may call it several
// times for the same database, with stores open at once, and closes every
// store it returns.
type Opener func(t *testing.T) grant.Store

// Run runs the contract suite. newDB is called once per subtest: it
// prepares an empty database, registers its removal with t.Cleanup, and
// returns an Opener for it. Stores must take the times they record from the
// arguments of Create, Revoke and Touch.
func Run(t *testing.T, newDB func(t *testing.T) Opener) {
	tests := []struct {
		name string
		f    func(t *testing.T, open Opener)
	}{
		{"CreateLookup", testCreateLookup},
		{"List", testList},
		{"ListHidesHashes", testListHidesHashes},
		{"RevokeByID", testRevokeByID},
		{"RevokeByLabel", testRevokeByLabel},
		{"Labels", testLabels},
		{"Expiry", testExpiry},
		{"Authenticate", testAuthenticate},
		{"Invalid", testInvalid},
		{"Concurrent", testConcurrent},
		{"Touch", testTouch},
		{"TwoStores", testTwoStores},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open := newDB(t)
			tt.f(t, func(t *testing.T) grant.Store {
				t.Helper()
				s := open(t)
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

// newGrant returns a grant made at created, and its token.
func newGrant(t testing.TB, label string, created time.Time) (*grant.Grant, string) {
	t.Helper()
	g, token, err := grant.New(label, "okta", created)
	if err != nil {
		t.Fatalf("New(%q) = %v", label, err)
	}
	return g, token
}

// create makes a grant and stores it, failing the test on an error.
func create(t testing.TB, s grant.Store, label string, created time.Time) (*grant.Grant, string) {
	t.Helper()
	g, token := newGrant(t, label, created)
	if err := s.Create(context.Background(), g, grant.Hash(token)); err != nil {
		t.Fatalf("Create(%q) = %v", label, err)
	}
	return g, token
}

func lookup(t testing.TB, s grant.Store, token string) *grant.Grant {
	t.Helper()
	g, err := s.Lookup(context.Background(), grant.Hash(token))
	if err != nil {
		t.Fatalf("Lookup(%s) = %v", token[:8], err)
	}
	return g
}

func list(t testing.TB, s grant.Store) []*grant.Grant {
	t.Helper()
	gs, err := s.List(context.Background())
	if err != nil {
		t.Fatalf("List = %v", err)
	}
	return gs
}

// same reports whether a and b hold the same values.
func same(a, b *grant.Grant) bool {
	return a.ID == b.ID && a.Label == b.Label && a.Server == b.Server && a.Policy == b.Policy &&
		a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires) &&
		a.Revoked.Equal(b.Revoked) && a.LastUsed.Equal(b.LastUsed)
}

func show(g *grant.Grant) string {
	if g == nil {
		return "<nil>"
	}
	f := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("t0%+v", t.Sub(t0))
	}
	return fmt.Sprintf("{%s %s server=%s policy=%q created=%s expires=%s revoked=%s used=%s}",
		g.ID, g.Label, g.Server, g.Policy, f(g.Created), f(g.Expires), f(g.Revoked), f(g.LastUsed))
}

func wantGrant(t testing.TB, what string, got, want *grant.Grant) {
	t.Helper()
	if got == nil || !same(got, want) {
		t.Fatalf("%s = %s; want %s", what, show(got), show(want))
	}
	for _, tm := range []time.Time{got.Created, got.Expires, got.Revoked, got.LastUsed} {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Fatalf("%s has a time in %v; want UTC", what, tm.Location())
		}
	}
}

func testCreateLookup(t *testing.T, open Opener) {
	s := open(t)
	g, token := newGrant(t, "alice-laptop", at(0))
	g.Policy = "policies/alice.json"
	g.Expires = at(24 * time.Hour)
	if err := s.Create(context.Background(), g, grant.Hash(token)); err != nil {
		t.Fatalf("Create = %v", err)
	}
	got := lookup(t, s, token)
	wantGrant(t, "Lookup", got, g)
	// The result is the caller's: changing it changes nothing stored.
	got.Label = "mallory"
	wantGrant(t, "Lookup after changing an earlier result", lookup(t, s, token), g)

	other, _ := grant.NewToken()
	if _, err := s.Lookup(context.Background(), grant.Hash(other)); !errors.Is(err, grant.ErrNotFound) {
		t.Fatalf("Lookup(unknown) = %v; want ErrNotFound", err)
	}
}

func testList(t *testing.T, open Opener) {
	s := open(t)
	if gs := list(t, s); len(gs) != 0 {
		t.Fatalf("List of an empty store = %d grants; want 0", len(gs))
	}
	var want []*grant.Grant
	for i, label := range []string{"b", "a", "c", "d"} {
		g, _ := create(t, s, label, at(time.Duration(i)*time.Minute))
		want = append(want, g)
	}
	r, err := s.Revoke(context.Background(), "c", at(time.Hour))
	if err != nil {
		t.Fatalf("Revoke(c) = %v", err)
	}
	want[2] = r
	slices.Reverse(want)
	got := list(t, s)
	if len(got) != len(want) {
		t.Fatalf("List = %d grants; want %d", len(got), len(want))
	}
	for i := range want {
		wantGrant(t, fmt.Sprintf("List[%d]", i), got[i], want[i])
	}
}

func testListHidesHashes(t *testing.T, open Opener) {
	s := open(t)
	_, token := create(t, s, "ci-runner", at(0))
	h := grant.Hash(token)
	out, err := json.Marshal(list(t, s))
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("%s %+v %#v", out, list(t, s), list(t, s))
	for _, secret := range []string{
		token, token[len(grant.TokenPrefix):],
		hex.EncodeToString(h[:]), base64.StdEncoding.EncodeToString(h[:]),
		base64.RawURLEncoding.EncodeToString(h[:]), string(h[:]),
	} {
		if strings.Contains(text, secret) {
			t.Fatalf("List shows the token or its hash (%q) in %s", secret, text)
		}
	}
}

func testRevokeByID(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	g, token := create(t, s, "alice", at(0))
	keep, keepToken := create(t, s, "bob", at(time.Minute))
	r, err := s.Revoke(ctx, g.ID, at(time.Hour))
	if err != nil {
		t.Fatalf("Revoke(%s) = %v", g.ID, err)
	}
	want := *g
	want.Revoked = at(time.Hour)
	wantGrant(t, "Revoke", r, &want)
	got := lookup(t, s, token)
	wantGrant(t, "Lookup after Revoke", got, &want)
	if err := got.Valid(at(time.Hour)); !errors.Is(err, grant.ErrRevoked) {
		t.Fatalf("Valid after Revoke = %v; want ErrRevoked", err)
	}
	wantGrant(t, "Lookup of another grant", lookup(t, s, keepToken), keep)

	// Revoking again keeps the first time and says so.
	r, err = s.Revoke(ctx, g.ID, at(2*time.Hour))
	if !errors.Is(err, grant.ErrRevoked) {
		t.Fatalf("second Revoke(%s) = %v; want ErrRevoked", g.ID, err)
	}
	wantGrant(t, "second Revoke", r, &want)
	wantGrant(t, "Lookup after a second Revoke", lookup(t, s, token), &want)

	unknown, _ := newGrant(t, "x", at(0))
	if _, err := s.Revoke(ctx, unknown.ID, at(time.Hour)); !errors.Is(err, grant.ErrNotFound) {
		t.Fatalf("Revoke(unknown ID) = %v; want ErrNotFound", err)
	}
	if _, err := s.Revoke(ctx, keep.ID, time.Time{}); !errors.Is(err, grant.ErrInvalid) {
		t.Fatalf("Revoke(%s, zero time) = %v; want ErrInvalid", keep.ID, err)
	}
	wantGrant(t, "Lookup after a refused Revoke", lookup(t, s, keepToken), keep)
}

func testRevokeByLabel(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	g, token := create(t, s, "ci-runner", at(0))
	r, err := s.Revoke(ctx, "ci-runner", at(time.Hour))
	if err != nil {
		t.Fatalf("Revoke(ci-runner) = %v", err)
	}
	want := *g
	want.Revoked = at(time.Hour)
	wantGrant(t, "Revoke", r, &want)
	wantGrant(t, "Lookup after Revoke", lookup(t, s, token), &want)
	// A label names live grants only.
	if _, err := s.Revoke(ctx, "ci-runner", at(2*time.Hour)); !errors.Is(err, grant.ErrNotFound) {
		t.Fatalf("second Revoke(ci-runner) = %v; want ErrNotFound", err)
	}
	if _, err := s.Revoke(ctx, "nobody", at(time.Hour)); !errors.Is(err, grant.ErrNotFound) {
		t.Fatalf("Revoke(nobody) = %v; want ErrNotFound", err)
	}
}

func testLabels(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	first, firstToken := create(t, s, "alice", at(0))
	dup, dupToken := newGrant(t, "alice", at(time.Minute))
	if err := s.Create(ctx, dup, grant.Hash(dupToken)); !errors.Is(err, grant.ErrExists) {
		t.Fatalf("Create(a second live alice) = %v; want ErrExists", err)
	}
	if _, err := s.Lookup(ctx, grant.Hash(dupToken)); !errors.Is(err, grant.ErrNotFound) {
		t.Fatalf("Lookup(refused grant) = %v; want ErrNotFound", err)
	}
	// Another grant with the same token hash is refused too.
	again, _ := newGrant(t, "alice-2", at(time.Minute))
	if err := s.Create(ctx, again, grant.Hash(firstToken)); !errors.Is(err, grant.ErrExists) {
		t.Fatalf("Create(same hash) = %v; want ErrExists", err)
	}
	if _, err := s.Revoke(ctx, "alice", at(time.Hour)); err != nil {
		t.Fatalf("Revoke(alice) = %v", err)
	}
	// A revoked grant's label is free again, and names the new grant.
	second, secondToken := create(t, s, "alice", at(2*time.Hour))
	wantGrant(t, "Lookup(new alice)", lookup(t, s, secondToken), second)
	r, err := s.Revoke(ctx, "alice", at(3*time.Hour))
	if err != nil || r.ID != second.ID {
		t.Fatalf("Revoke(alice) = %s, %v; want %s", show(r), err, second.ID)
	}
	old := lookup(t, s, firstToken)
	if !old.Revoked.Equal(at(time.Hour)) {
		t.Fatalf("first alice after the second's revocation = %s; want revoked at t0+1h", show(old))
	}
	if gs := list(t, s); len(gs) != 2 || gs[0].ID != second.ID || gs[1].ID != first.ID {
		t.Fatalf("List = %d grants; want the two alices, newest first", len(gs))
	}
}

func testExpiry(t *testing.T, open Opener) {
	s := open(t)
	g, token := newGrant(t, "temp", at(0))
	g.Expires = at(time.Hour)
	if err := s.Create(context.Background(), g, grant.Hash(token)); err != nil {
		t.Fatalf("Create = %v", err)
	}
	got := lookup(t, s, token)
	for _, tt := range []struct {
		now  time.Duration
		want error
	}{
		{0, nil},
		{time.Hour - time.Millisecond, nil},
		{time.Hour, grant.ErrExpired},
		{48 * time.Hour, grant.ErrExpired},
	} {
		if err := got.Valid(at(tt.now)); err != tt.want {
			t.Errorf("Valid(t0+%v) = %v; want %v", tt.now, err, tt.want)
		}
	}
	// An expired grant can still be revoked, and then it is reported as
	// revoked.
	if _, err := s.Revoke(context.Background(), g.ID, at(2*time.Hour)); err != nil {
		t.Fatalf("Revoke(expired) = %v", err)
	}
	if err := lookup(t, s, token).Valid(at(3 * time.Hour)); err != grant.ErrRevoked {
		t.Fatalf("Valid(expired and revoked) = %v; want ErrRevoked", err)
	}
}

func testAuthenticate(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	live, liveToken := create(t, s, "live", at(0))
	expiring, expiringToken := newGrant(t, "expiring", at(0))
	expiring.Expires = at(time.Hour)
	if err := s.Create(ctx, expiring, grant.Hash(expiringToken)); err != nil {
		t.Fatalf("Create = %v", err)
	}
	revoked, revokedToken := create(t, s, "revoked", at(0))
	if _, err := s.Revoke(ctx, revoked.ID, at(time.Minute)); err != nil {
		t.Fatalf("Revoke = %v", err)
	}
	unknown, _ := grant.NewToken()
	for _, tt := range []struct {
		name   string
		token  string
		now    time.Duration
		wantID string
		want   error
	}{
		{"live", liveToken, time.Hour, live.ID, nil},
		{"before expiry", expiringToken, time.Minute, expiring.ID, nil},
		{"expired", expiringToken, time.Hour, expiring.ID, grant.ErrExpired},
		{"revoked", revokedToken, time.Hour, revoked.ID, grant.ErrRevoked},
		{"unknown", unknown, 0, "", grant.ErrNotFound},
		{"empty", "", 0, "", grant.ErrNotFound},
		{"no prefix", liveToken[len(grant.TokenPrefix):], 0, "", grant.ErrNotFound},
		{"truncated", liveToken[:len(liveToken)-1], 0, "", grant.ErrNotFound},
	} {
		g, err := grant.Authenticate(ctx, s, tt.token, at(tt.now))
		id := ""
		if g != nil {
			id = g.ID
		}
		if !errors.Is(err, tt.want) || id != tt.wantID {
			t.Errorf("Authenticate(%s) = %s, %v; want %s, %v", tt.name, show(g), err, tt.wantID, tt.want)
		}
	}
	// Successful authentications are recorded as uses; refusals are not.
	for _, g := range list(t, s) {
		want := map[string]time.Time{live.ID: at(time.Hour), expiring.ID: at(time.Minute)}[g.ID]
		if !g.LastUsed.Equal(want) {
			t.Errorf("List: %s = %s; want last used at %v", g.Label, show(g), want)
		}
	}
}

func testInvalid(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	valid := func() (*grant.Grant, [32]byte) {
		g, token := newGrant(t, "ok", at(0))
		return g, grant.Hash(token)
	}
	for _, tt := range []struct {
		name   string
		change func(g *grant.Grant, h *[32]byte)
	}{
		{"zero hash", func(g *grant.Grant, h *[32]byte) { *h = [32]byte{} }},
		{"bad ID", func(g *grant.Grant, h *[32]byte) { g.ID = "grt_1" }},
		{"empty label", func(g *grant.Grant, h *[32]byte) { g.Label = "" }},
		{"label with a space", func(g *grant.Grant, h *[32]byte) { g.Label = "a b" }},
		{"label like an ID", func(g *grant.Grant, h *[32]byte) { g.Label = "grt_aaaaaaaaaaaaaaaa" }},
		{"label like a token", func(g *grant.Grant, h *[32]byte) { g.Label = "tg_x" }},
		{"long label", func(g *grant.Grant, h *[32]byte) { g.Label = strings.Repeat("a", 65) }},
		{"no server", func(g *grant.Grant, h *[32]byte) { g.Server = "" }},
		{"control character in policy", func(g *grant.Grant, h *[32]byte) { g.Policy = "a\nb" }},
		{"no creation time", func(g *grant.Grant, h *[32]byte) { g.Created = time.Time{} }},
		{"expires before creation", func(g *grant.Grant, h *[32]byte) { g.Expires = g.Created }},
		{"already revoked", func(g *grant.Grant, h *[32]byte) { g.Revoked = g.Created }},
	} {
		g, h := valid()
		tt.change(g, &h)
		if err := s.Create(ctx, g, h); !errors.Is(err, grant.ErrInvalid) {
			t.Errorf("Create(%s) = %v; want ErrInvalid", tt.name, err)
		}
	}
	if gs := list(t, s); len(gs) != 0 {
		t.Fatalf("List after invalid Creates = %d grants; want 0", len(gs))
	}
}

func testConcurrent(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	const workers, each = 8, 12
	contested, _ := create(t, s, "contested", at(0))
	var (
		wg      sync.WaitGroup
		winners atomic.Int32
		revokes atomic.Int32
	)
	for w := range workers {
		wg.Go(func() {
			// Every worker races for one label and one revocation.
			g, token := newGrant(t, "racer", at(time.Minute))
			switch err := s.Create(ctx, g, grant.Hash(token)); {
			case err == nil:
				winners.Add(1)
			case !errors.Is(err, grant.ErrExists):
				t.Errorf("Create(racer) = %v; want nil or ErrExists", err)
			}
			switch _, err := s.Revoke(ctx, contested.ID, at(time.Hour)); {
			case err == nil:
				revokes.Add(1)
			case !errors.Is(err, grant.ErrRevoked):
				t.Errorf("Revoke(contested) = %v; want nil or ErrRevoked", err)
			}
			// Then each makes its own grants, finding each as soon as it
			// is made, while the others do the same.
			var tokens []string
			for i := range each {
				g, token := newGrant(t, fmt.Sprintf("w%d-%d", w, i), at(time.Duration(i)*time.Second))
				if err := s.Create(ctx, g, grant.Hash(token)); err != nil {
					t.Errorf("Create(%s) = %v", g.Label, err)
					return
				}
				tokens = append(tokens, token)
				for _, tok := range tokens {
					if _, err := grant.Authenticate(ctx, s, tok, at(time.Hour)); err != nil {
						t.Errorf("Authenticate(a grant of %s) = %v", g.Label, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if n := winners.Load(); n != 1 {
		t.Errorf("%d concurrent Creates of one label succeeded; want 1", n)
	}
	if n := revokes.Load(); n != 1 {
		t.Errorf("%d concurrent Revokes of one grant succeeded; want 1", n)
	}
	if gs := list(t, s); len(gs) != workers*each+2 {
		t.Errorf("List = %d grants; want %d", len(gs), workers*each+2)
	}
}

func testTouch(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	g, token := create(t, s, "busy", at(0))
	idle, _ := create(t, s, "idle", at(time.Minute))
	for i := range 1000 {
		// Out of order, as concurrent requests may be: the latest wins.
		if err := s.Touch(ctx, g.ID, at(time.Duration(i%10)*time.Second)); err != nil {
			t.Fatalf("Touch = %v", err)
		}
	}
	if err := s.Touch(ctx, "grt_aaaaaaaaaaaaaaaa", at(time.Hour)); err != nil {
		t.Fatalf("Touch(unknown) = %v", err)
	}
	wantUsed := func(s grant.Store, when string, want time.Time) {
		t.Helper()
		for _, x := range list(t, s) {
			w := want
			if x.ID == idle.ID {
				w = time.Time{}
			}
			if !x.LastUsed.Equal(w) {
				t.Fatalf("List %s: %s = %s; want last used at %v", when, x.Label, show(x), w)
			}
		}
	}
	wantUsed(s, "at once", at(9*time.Second))
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	s = open(t)
	wantUsed(s, "after reopening", at(9*time.Second))
	// An older use does not move LastUsed back, before or after a write.
	s.Touch(ctx, g.ID, at(time.Second))
	wantUsed(s, "after an older Touch", at(9*time.Second))
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	s = open(t)
	wantUsed(s, "after an older Touch and reopening", at(9*time.Second))
	if got := lookup(t, s, token); !got.LastUsed.Equal(at(9 * time.Second)) {
		t.Fatalf("Lookup after reopening = %s; want last used at t0+9s", show(got))
	}
}

func testTwoStores(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t), open(t)
	// Each Lookup on b starts after the change on a returned: it must
	// reflect it, with no waiting in between.
	g, token := create(t, a, "alice", at(0))
	wantGrant(t, "Lookup on the second store after a Create on the first", lookup(t, b, token), g)
	if _, err := a.Revoke(ctx, g.ID, at(time.Hour)); err != nil {
		t.Fatalf("Revoke = %v", err)
	}
	if _, err := grant.Authenticate(ctx, b, token, at(time.Hour)); !errors.Is(err, grant.ErrRevoked) {
		t.Fatalf("Authenticate on the second store after a Revoke on the first = %v; want ErrRevoked", err)
	}
	h, hToken := create(t, b, "bob", at(time.Minute))
	dup, dupToken := newGrant(t, "bob", at(2*time.Minute))
	if err := a.Create(ctx, dup, grant.Hash(dupToken)); !errors.Is(err, grant.ErrExists) {
		t.Fatalf("Create on the first store of a label live on the second = %v; want ErrExists", err)
	}
	if _, err := a.Revoke(ctx, "bob", at(time.Hour)); err != nil {
		t.Fatalf("Revoke(bob) on the first store = %v", err)
	}
	got := lookup(t, b, hToken)
	if got.ID != h.ID || !got.Revoked.Equal(at(time.Hour)) {
		t.Fatalf("Lookup on the second store = %s; want %s revoked at t0+1h", show(got), h.ID)
	}
	// Many rounds, alternating, so a refresh that lags shows up.
	for i := range 20 {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		g, token := create(t, from, fmt.Sprintf("round-%d", i), at(time.Duration(i)*time.Second))
		if _, err := grant.Authenticate(ctx, to, token, at(time.Hour)); err != nil {
			t.Fatalf("round %d: Authenticate after Create on the other store = %v", i, err)
		}
		if _, err := from.Revoke(ctx, g.Label, at(time.Hour)); err != nil {
			t.Fatalf("round %d: Revoke = %v", i, err)
		}
		if _, err := grant.Authenticate(ctx, to, token, at(time.Hour)); !errors.Is(err, grant.ErrRevoked) {
			t.Fatalf("round %d: Authenticate after Revoke on the other store = %v; want ErrRevoked", i, err)
		}
	}
	if na, nb := len(list(t, a)), len(list(t, b)); na != 22 || nb != 22 {
		t.Fatalf("List = %d and %d grants; want 22 on both", na, nb)
	}
}

func testClosed(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	g, token := create(t, s, "alice", at(0))
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	n, nToken := newGrant(t, "bob", at(0))
	for name, err := range map[string]error{
		"Create": s.Create(ctx, n, grant.Hash(nToken)),
		"Lookup": func() error { _, err := s.Lookup(ctx, grant.Hash(token)); return err }(),
		"List":   func() error { _, err := s.List(ctx); return err }(),
		"Revoke": func() error { _, err := s.Revoke(ctx, g.ID, at(time.Hour)); return err }(),
		"Touch":  s.Touch(ctx, g.ID, at(time.Hour)),
	} {
		if !errors.Is(err, grant.ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
}

// Benchmark measures the hot path on s, which must be open and empty:
// Lookup (serial and parallel, of known and unknown tokens), Authenticate
// and Touch. It creates grants in s.
func Benchmark(b *testing.B, s grant.Store) {
	ctx := context.Background()
	const n = 256
	tokens := make([]string, n)
	hashes := make([][32]byte, n)
	for i := range n {
		_, tokens[i] = create(b, s, fmt.Sprintf("bench-%d", i), at(time.Duration(i)*time.Millisecond))
		hashes[i] = grant.Hash(tokens[i])
	}
	unknown, _ := grant.NewToken()
	miss := grant.Hash(unknown)
	b.Run("Lookup", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Lookup(ctx, hashes[i%n]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("LookupMiss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Lookup(ctx, miss); !errors.Is(err, grant.ErrNotFound) {
				b.Fatal(err)
			}
		}
	})
	b.Run("LookupParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.Lookup(ctx, hashes[i%n]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	b.Run("Authenticate", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := grant.Authenticate(ctx, s, tokens[i%n], at(time.Hour)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("AuthenticateParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := grant.Authenticate(ctx, s, tokens[i%n], at(time.Hour)); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	b.Run("Touch", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.Touch(ctx, "grt_aaaaaaaaaaaaaaaa", at(time.Duration(i))); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
