package approval_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
)

const poll = 200 * time.Millisecond

type waited struct {
	a   *approval.Approval
	err error
}

// wait starts hub.Wait(ctx, id) and returns where its result will be.
func wait(ctx context.Context, hub *approval.Hub, id string) <-chan waited {
	ch := make(chan waited, 1)
	go func() {
		a, err := hub.Wait(ctx, id)
		ch <- waited{a, err}
	}()
	return ch
}

// newHub returns a Hub on a new Memory, both closed when the test ends,
// and a pending approval created through the Hub, expiring in an hour.
// Inside a synctest bubble, time.Now is the bubble's clock.
func newHub(t *testing.T, opts approval.HubOptions) (*approval.Hub, *approval.Memory, *approval.Approval) {
	t.Helper()
	m := approval.NewMemory()
	if opts.Poll == 0 {
		opts.Poll = poll
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	hub := approval.NewHub(m, &opts)
	t.Cleanup(func() {
		hub.Close()
		m.Close()
	})
	a := approval.New(key, time.Now(), time.Now().Add(time.Hour))
	if err := hub.Create(context.Background(), a); err != nil {
		t.Fatalf("Create = %v", err)
	}
	return hub, m, a
}

func approve(by string) approval.Decision {
	return approval.Decision{Approve: true, By: by, Via: approval.ViaAPI, At: time.Now()}
}

// TestWaitDecidedHere checks that a decision through the Hub wakes every
// waiter at once, without waiting for a poll.
func TestWaitDecidedHere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub, _, a := newHub(t, approval.HubOptions{Poll: time.Hour})
		ctx := context.Background()
		w1, w2 := wait(ctx, hub, a.ID), wait(ctx, hub, a.ID)
		synctest.Wait()
		start := time.Now()
		if _, err := hub.Decide(ctx, a.ID, approve("alice")); err != nil {
			t.Fatalf("Decide = %v", err)
		}
		for _, w := range []<-chan waited{w1, w2} {
			r := <-w
			if r.err != nil || r.a.Status != approval.Approved || r.a.DecidedBy != "alice" {
				t.Errorf("Wait = %+v, %v; want approved by alice", r.a, r.err)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("waiters woke %v after the decision; want at once", d)
		}
	})
}

// TestWaitDecidedElsewhere checks that a decision through another store on
// the same data, as by the CLI or another replica, wakes the waiter at the
// next poll.
func TestWaitDecidedElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub, m, a := newHub(t, approval.HubOptions{})
		ctx := context.Background()
		w := wait(ctx, hub, a.ID)
		synctest.Wait()
		start := time.Now()
		if _, err := m.Decide(ctx, a.ID, approval.Decision{By: "bob", Reason: "no", Via: approval.ViaCLI, At: start}); err != nil {
			t.Fatalf("Decide = %v", err)
		}
		r := <-w
		if r.err != nil || r.a.Status != approval.Denied || r.a.DecisionReason != "no" {
			t.Fatalf("Wait = %+v, %v; want denied by bob", r.a, r.err)
		}
		if d := time.Since(start); d <= 0 || d > poll {
			t.Errorf("the waiter woke %v after the decision; want within a poll (%v)", d, poll)
		}
	})
}

// TestWaitExpires checks that a waiter on an approval that expires wakes
// within a poll of its expiry, and that the store then shows it expired.
func TestWaitExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub, m, _ := newHub(t, approval.HubOptions{})
		ctx := context.Background()
		a := approval.New(key, time.Now(), time.Now().Add(10*time.Second))
		if err := hub.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		r := <-wait(ctx, hub, a.ID)
		if r.err != nil || r.a.Status != approval.Expired {
			t.Fatalf("Wait = %+v, %v; want expired", r.a, r.err)
		}
		if d := time.Since(start); d < 10*time.Second || d > 10*time.Second+poll {
			t.Errorf("the waiter woke after %v; want within a poll of the expiry (10s)", d)
		}
		if got, _ := m.Get(ctx, a.ID); got.Status != approval.Expired {
			t.Errorf("the store shows %s; want expired", got.Status)
		}
		// An approval already past its expiry when waited on.
		b := approval.New(key, time.Now().Add(-time.Hour), time.Now().Add(-time.Second))
		if err := m.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if r := <-wait(ctx, hub, b.ID); r.err != nil || r.a.Status != approval.Expired || time.Since(start) != 0 {
			t.Errorf("Wait on an approval past its expiry = %+v, %v after %v; want expired at once", r.a, r.err, time.Since(start))
		}
	})
}

func TestWaitEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub, m, a := newHub(t, approval.HubOptions{})
		ctx := context.Background()
		if _, err := hub.Wait(ctx, approval.NewID()); !errors.Is(err, approval.ErrNotFound) {
			t.Errorf("Wait on an unknown approval = %v; want ErrNotFound", err)
		}

		cctx, cancel := context.WithCancel(ctx)
		w := wait(cctx, hub, a.ID)
		synctest.Wait()
		cancel()
		if r := <-w; !errors.Is(r.err, context.Canceled) {
			t.Errorf("Wait when its context is canceled = %+v, %v; want context.Canceled", r.a, r.err)
		}

		// A call retried after its approval was decided elsewhere gets the
		// decision at once, and so does an earlier waiter.
		early := wait(ctx, hub, a.ID)
		synctest.Wait()
		if _, err := m.Decide(ctx, a.ID, approve("carol")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if r := <-wait(ctx, hub, a.ID); r.err != nil || r.a.DecidedBy != "carol" {
			t.Errorf("Wait on a decided approval = %+v, %v; want it as decided", r.a, r.err)
		}
		if r := <-early; r.err != nil || r.a.DecidedBy != "carol" || time.Since(start) != 0 {
			t.Errorf("earlier Wait = %+v, %v after %v; want it as decided, at once", r.a, r.err, time.Since(start))
		}

		b := approval.New(key, time.Now(), time.Now().Add(time.Hour))
		if err := hub.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		w = wait(ctx, hub, b.ID)
		synctest.Wait()
		hub.Close()
		if r := <-w; !errors.Is(r.err, approval.ErrClosed) {
			t.Errorf("Wait when the Hub closes = %+v, %v; want ErrClosed", r.a, r.err)
		}
		if _, err := hub.Wait(ctx, b.ID); !errors.Is(err, approval.ErrClosed) {
			t.Errorf("Wait after Close = %v; want ErrClosed", err)
		}
		if err := hub.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})
}

// TestRacingHubDeciders checks that approvers racing through Hubs on the
// same data get one decision, which every waiter sees, and the others a
// DecidedError naming the winner.
func TestRacingHubDeciders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub, m, a := newHub(t, approval.HubOptions{})
		other := approval.NewHub(m, &approval.HubOptions{Poll: poll})
		defer other.Close()
		ctx := context.Background()
		hubs := []*approval.Hub{hub, other}
		var ws []<-chan waited
		for i := range 6 {
			ws = append(ws, wait(ctx, hubs[i%2], a.ID))
		}
		synctest.Wait()
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			winner *approval.Approval
			losers []*approval.DecidedError
		)
		for i := range 10 {
			wg.Go(func() {
				got, err := hubs[i%2].Decide(ctx, a.ID, approve(fmt.Sprintf("approver-%d", i)))
				mu.Lock()
				defer mu.Unlock()
				var de *approval.DecidedError
				switch {
				case err == nil:
					if winner != nil {
						t.Errorf("two winners: %s and %s", winner.DecidedBy, got.DecidedBy)
					}
					winner = got
				case errors.As(err, &de) && errors.Is(err, approval.ErrDecided):
					losers = append(losers, de)
				default:
					t.Errorf("Decide = %v", err)
				}
			})
		}
		wg.Wait()
		if winner == nil || len(losers) != 9 {
			t.Fatalf("winner %v, %d losers; want one and 9", winner, len(losers))
		}
		for _, de := range losers {
			if de.Approval.DecidedBy != winner.DecidedBy {
				t.Errorf("a loser was told %q decided; want %q", de.Approval.DecidedBy, winner.DecidedBy)
			}
		}
		for _, w := range ws {
			if r := <-w; r.err != nil || r.a.DecidedBy != winner.DecidedBy {
				t.Errorf("Wait = %+v, %v; want the winner's decision", r.a, r.err)
			}
		}
	})
}

// next returns the next event, failing if none is ready once the bubble
// is idle.
func next(t *testing.T, ch <-chan approval.Event) approval.Event {
	t.Helper()
	synctest.Wait()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("the event channel is closed")
		}
		return e
	default:
		t.Fatal("no event")
	}
	panic("unreachable")
}

func noEvent(t *testing.T, ch <-chan approval.Event) {
	t.Helper()
	synctest.Wait()
	select {
	case e := <-ch:
		t.Fatalf("event %s %s %s; want none", e.Kind, e.Approval.ID, e.Approval.Status)
	default:
	}
}

func TestSubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var created []string
		var mu sync.Mutex
		hub, m, first := newHub(t, approval.HubOptions{OnCreate: func(a *approval.Approval) {
			mu.Lock()
			created = append(created, a.ID)
			mu.Unlock()
		}})
		ctx, cancel := context.WithCancel(context.Background())
		events := hub.Subscribe(ctx)
		// What was pending before the subscription is announced at once.
		if e := next(t, events); e.Kind != approval.EventCreated || e.Approval.ID != first.ID {
			t.Fatalf("first event = %s %s; want created %s", e.Kind, e.Approval.ID, first.ID)
		}
		noEvent(t, events)

		// Through the Hub: at once.
		a := approval.New(key, time.Now(), time.Now().Add(time.Hour))
		if err := hub.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		if e := next(t, events); e.Kind != approval.EventCreated || e.Approval.ID != a.ID || e.Approval.Status != approval.Pending {
			t.Errorf("event = %s %s %s; want created %s", e.Kind, e.Approval.ID, e.Approval.Status, a.ID)
		}
		if _, err := hub.Decide(ctx, a.ID, approve("alice")); err != nil {
			t.Fatal(err)
		}
		if e := next(t, events); e.Kind != approval.EventDecided || e.Approval.ID != a.ID || e.Approval.Status != approval.Approved {
			t.Errorf("event = %s %s %s; want decided %s", e.Kind, e.Approval.ID, e.Approval.Status, a.ID)
		}
		mu.Lock()
		if len(created) != 2 || created[1] != a.ID {
			t.Errorf("OnCreate saw %v; want %s last of 2", created, a.ID)
		}
		mu.Unlock()

		// Elsewhere: at the next poll.
		b := approval.New(key, time.Now(), time.Now().Add(time.Hour))
		if err := m.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		noEvent(t, events)
		start := time.Now()
		e := <-events
		if e.Kind != approval.EventCreated || e.Approval.ID != b.ID || time.Since(start) > poll {
			t.Errorf("event = %s %s after %v; want created %s within a poll", e.Kind, e.Approval.ID, time.Since(start), b.ID)
		}
		if _, err := m.Decide(ctx, b.ID, approve("bob")); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		e = <-events
		if e.Kind != approval.EventDecided || e.Approval.ID != b.ID || e.Approval.DecidedBy != "bob" || time.Since(start) > poll {
			t.Errorf("event = %s %s by %q after %v; want decided %s by bob within a poll", e.Kind, e.Approval.ID, e.Approval.DecidedBy, time.Since(start), b.ID)
		}
		mu.Lock()
		if len(created) != 2 {
			t.Errorf("OnCreate saw %v; want only the Hub's approvals", created)
		}
		mu.Unlock()

		cancel()
		synctest.Wait()
		if _, ok := <-events; ok {
			t.Error("the event channel is open after its context is canceled")
		}

		events = hub.Subscribe(context.Background())
		next(t, events) // first, still pending
		hub.Close()
		if _, ok := <-events; ok {
			t.Error("the event channel is open after the Hub closed")
		}
		if _, ok := <-hub.Subscribe(context.Background()); ok {
			t.Error("Subscribe after Close returned an open channel")
		}
	})
}

// TestSlowSubscriber checks that a subscriber that does not read is
// dropped, its channel closed, rather than holding the Hub up.
func TestSlowSubscriber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub, _, _ := newHub(t, approval.HubOptions{Poll: time.Hour})
		ctx := context.Background()
		events := hub.Subscribe(ctx)
		synctest.Wait()
		for range 100 {
			if err := hub.Create(ctx, approval.New(key, time.Now(), time.Now().Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		for range events {
			n++
		}
		if n == 0 || n > 64 {
			t.Errorf("the slow subscriber got %d events before its channel closed; want 1 to 64", n)
		}
	})
}
