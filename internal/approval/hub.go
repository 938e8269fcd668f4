package approval

import (
	"context"
	"errors"
	"log"
	"sync"
	"time"
)

// HubOptions configures a Hub. The zero value, like a nil *HubOptions,
// means the defaults.
type HubOptions struct {
	// Poll is how often the Hub reads the store to notice decisions made
	// elsewhere (by the CLI in another process, or another replica) while
	// someone waits or subscribes; zero means 1s.
	Poll time.Duration
	// Now is the Hub's clock, used to expire approvals that waiters wait
	// on; nil means time.Now.
	Now func() time.Time
	// OnCreate, if set, is called with a copy of every approval the Hub
	// creates, once it is stored: (*Notifier).Notify fits. It must not
	// block.
	OnCreate func(*Approval)
	// Logf logs failures to read the store while polling; nil means
	// log.Printf.
	Logf func(format string, args ...any)
}

// An Event tells a subscriber that an approval was created or decided.
type Event struct {
	// Kind is EventCreated or EventDecided (which includes expiry).
	Kind string `json:"kind"`
	// Approval is the approval as of the event. Subscribers share it and
	// must not modify it.
	Approval *Approval `json:"approval"`
}

// The kinds of Event.
const (
	EventCreated = "created"
	EventDecided = "decided"
)

// subscriberBuffer is how many events a subscriber may fall behind by
// before the Hub drops it.
const subscriberBuffer = 64

// Hub holds calls for approval: it creates and decides approvals through a
// Store, wakes the calls waiting on them, and feeds subscribers such as the
// console. Decisions made through the Hub wake waiters at once; decisions
// made through another store on the same database (the CLI, another
// replica) are noticed by reading the store every HubOptions.Poll, but only
// while someone waits or subscribes.
//
// A Hub is safe for concurrent use. It owns one goroutine, which Close
// stops. Make one with NewHub; the zero Hub is not usable.
type Hub struct {
	store    Store
	poll     time.Duration
	now      func() time.Time
	onCreate func(*Approval)
	logf     func(format string, args ...any)

	kick   chan struct{}   // asks for a poll now; capacity 1
	ctx    context.Context // canceled by Close, to end the store reads under way
	cancel context.CancelFunc
	done   chan struct{} // closed when the poller returns

	mu     sync.Mutex
	waits  map[string]*wait     // guarded by mu; approval ID → its waiters
	subs   map[*subscriber]bool // guarded by mu
	known  map[string]time.Time // guarded by mu; pending approvals announced to subscribers → Expires
	closed bool                 // guarded by mu
}

// wait is the waiters on one approval. done is closed once a holds its
// decided state.
type wait struct {
	n       int       // guarded by Hub.mu; waiters
	expires time.Time // guarded by Hub.mu; zero until read
	done    chan struct{}
	a       *Approval // written before done is closed
}

type subscriber struct {
	ch   chan Event
	stop func() bool // stops watching the subscriber's context; set under Hub.mu
}

// NewHub returns a Hub on store, which the caller keeps and closes after
// the Hub.
func NewHub(store Store, opts *HubOptions) *Hub {
	var o HubOptions
	if opts != nil {
		o = *opts
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	h := &Hub{
		store:    store,
		poll:     o.Poll,
		now:      o.Now,
		onCreate: o.OnCreate,
		logf:     o.Logf,
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		waits:    make(map[string]*wait),
		subs:     make(map[*subscriber]bool),
		known:    make(map[string]time.Time),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	go h.run()
	return h
}

// Store returns the Hub's store, for the reads and writes that need no
// waking: Get, List, FindPending, Consume, Expire.
func (h *Hub) Store() Store { return h.store }

// Create stores a (see Store.Create), tells subscribers and calls
// HubOptions.OnCreate.
func (h *Hub) Create(ctx context.Context, a *Approval) error {
	if err := h.store.Create(ctx, a); err != nil {
		return err
	}
	c := a.Clone()
	h.mu.Lock()
	if len(h.subs) > 0 {
		h.known[c.ID] = c.Expires
		h.publish(Event{Kind: EventCreated, Approval: c})
	}
	h.mu.Unlock()
	if h.onCreate != nil {
		h.onCreate(a.Clone())
	}
	return nil
}

// Get returns the approval with ID id from the store (see Store.Get).
func (h *Hub) Get(ctx context.Context, id string) (*Approval, error) {
	return h.store.Get(ctx, id)
}

// Decide records d on approval id (see Store.Decide) and, when that
// decides it, wakes its waiters and tells subscribers at once. When the
// approval was decided already, by anyone, its waiters wake too.
func (h *Hub) Decide(ctx context.Context, id string, d Decision) (*Approval, error) {
	a, err := h.store.Decide(ctx, id, d)
	var de *DecidedError
	switch {
	case err == nil:
		h.settle(a, true)
	case errors.As(err, &de):
		h.settle(de.Approval, false)
	}
	return a, err
}

// Expire marks expired the pending approvals past their expiry by the
// Hub's clock (see Store.Expire); their waiters wake at the next poll,
// which it starts.
func (h *Hub) Expire(ctx context.Context) (int, error) {
	n, err := h.store.Expire(ctx, h.now())
	if n > 0 {
		h.poke()
	}
	return n, err
}

// Wait returns approval id once it is no longer pending: approved, denied
// or expired (by the Hub's clock; the Hub marks it so in the store). It
// returns ErrNotFound for an unknown ID, the context's error when ctx is
// done first, ErrClosed when the Hub is closed first, and the store's
// errors from its first read. Polling errors are logged and retried.
func (h *Hub) Wait(ctx context.Context, id string) (*Approval, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	w := h.waits[id]
	if w == nil {
		w = &wait{done: make(chan struct{})}
		h.waits[id] = w
	}
	w.n++
	h.mu.Unlock()
	defer h.release(id, w)

	// Registered before the read: a decision through the Hub after the
	// read wakes w, and one before it is in what the read returns.
	a, err := h.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Status != Pending {
		// Decided elsewhere: earlier waiters may still be waiting for the
		// next poll.
		h.mu.Lock()
		others := w.n > 1
		h.mu.Unlock()
		if others {
			h.settle(a, false)
		}
		return a, nil
	}
	h.mu.Lock()
	w.expires = a.Expires
	h.mu.Unlock()
	if a.ExpiredAt(h.now()) {
		h.poke()
	}
	select {
	case <-w.done:
		return w.a.Clone(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-h.ctx.Done():
		return nil, ErrClosed
	}
}

// release ends one waiter's interest in w.
func (h *Hub) release(id string, w *wait) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.n--
	if w.n == 0 && h.waits[id] == w {
		delete(h.waits, id)
	}
}

// Subscribe returns a channel of the events from now on: approvals created
// and decided through this Hub, at once, and those created and decided
// elsewhere, as polling notices them. An event may come more than once, so
// subscribers key what they show by approval ID. The channel is closed when
// ctx is done, when the Hub is closed, and when the subscriber falls
// behind by more than 64 events: it should then subscribe again and read
// the store afresh.
func (h *Hub) Subscribe(ctx context.Context) <-chan Event {
	s := &subscriber{ch: make(chan Event, subscriberBuffer)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(s.ch)
		return s.ch
	}
	h.subs[s] = true
	s.stop = context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.drop(s)
	})
	h.mu.Unlock()
	h.poke()
	return s.ch
}

// drop removes subscriber s. The caller holds h.mu.
func (h *Hub) drop(s *subscriber) {
	if !h.subs[s] {
		return
	}
	delete(h.subs, s)
	s.stop()
	close(s.ch)
	if len(h.subs) == 0 {
		clear(h.known)
	}
}

// publish sends e to every subscriber, dropping those that fell behind.
// The caller holds h.mu.
func (h *Hub) publish(e Event) {
	for s := range h.subs {
		select {
		case s.ch <- e:
		default:
			h.drop(s)
		}
	}
}

// settle wakes the waiters on a, which is no longer pending, and tells
// subscribers: always when the Hub decided it (local), else when they, or
// waiters, knew it pending.
func (h *Hub) settle(a *Approval, local bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, known := h.known[a.ID]
	delete(h.known, a.ID)
	w := h.waits[a.ID]
	if w != nil {
		delete(h.waits, a.ID)
		w.a = a.Clone()
		close(w.done)
	}
	if local || known || w != nil {
		h.publish(Event{Kind: EventDecided, Approval: a.Clone()})
	}
}

// poke asks the poller to poll now.
func (h *Hub) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *Hub) run() {
	defer close(h.done)
	t := time.NewTicker(h.poll)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
		h.check(h.ctx)
	}
}

// check reads the store for what changed elsewhere: the approvals waited
// on, and, while someone subscribes, the pending ones.
func (h *Hub) check(ctx context.Context) {
	now := h.now()
	h.mu.Lock()
	watching := len(h.subs) > 0
	var ids []string
	due := false
	for id, w := range h.waits {
		ids = append(ids, id)
		due = due || !w.expires.IsZero() && !now.Before(w.expires)
	}
	var gone map[string]bool
	if watching {
		gone = make(map[string]bool, len(h.known))
		for id, exp := range h.known {
			gone[id] = true
			due = due || !now.Before(exp)
		}
	}
	h.mu.Unlock()
	if len(ids) == 0 && !watching {
		return
	}
	if due {
		if _, err := h.store.Expire(ctx, now); err != nil {
			h.logf("approvals: expire: %v", err)
		}
	}
	// Approvals to read one by one: those waited on, but not those the
	// list shows pending.
	check := make(map[string]bool, len(ids))
	for _, id := range ids {
		check[id] = true
	}
	if watching {
		pending, err := h.store.List(ctx, Filter{Status: Pending})
		if err != nil {
			h.logf("approvals: poll: %v", err)
			return
		}
		h.mu.Lock()
		for _, a := range pending {
			delete(check, a.ID)
			delete(gone, a.ID)
			if _, ok := h.known[a.ID]; !ok && len(h.subs) > 0 {
				h.known[a.ID] = a.Expires
				h.publish(Event{Kind: EventCreated, Approval: a})
			}
		}
		h.mu.Unlock()
		for id := range gone {
			check[id] = true
		}
	}
	for id := range check {
		a, err := h.store.Get(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			// Deleted by hand: nothing will decide it, and waiters time out.
			h.mu.Lock()
			delete(h.known, id)
			h.mu.Unlock()
		case err != nil:
			if ctx.Err() == nil {
				h.logf("approvals: poll %s: %v", id, err)
			}
			return
		case a.Status != Pending:
			h.settle(a, false)
		}
	}
}

// Close stops the Hub: waiters get ErrClosed, subscribers' channels are
// closed, and the poller ends before Close returns. It does not close the
// store. Calling it again returns nil.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	for s := range h.subs {
		h.drop(s)
	}
	h.mu.Unlock()
	h.cancel()
	<-h.done
	return nil
}
