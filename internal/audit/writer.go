package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// WriterOptions configures a Writer. The zero value, like a nil
// *WriterOptions, means the defaults.
type WriterOptions struct {
	// FlushEvery is the longest a record waits in the default mode before
	// its batch is appended (plus the time of an append in progress); zero
	// means 200ms. The gateway promises every record durable within a
	// second, so it should stay well below that.
	FlushEvery time.Duration
	// MaxBatch is the most records appended in one transaction; a batch
	// that reaches it is appended at once. Zero means 1000.
	MaxBatch int
	// QueueSize is how many records may wait to be appended; a Write
	// waits for room beyond that. Zero means 10000.
	QueueSize int
	// Sync makes Write return only once its record is stored. Concurrent
	// Writes share one append.
	Sync bool
	// Clock stamps records written with a zero Time; nil means time.Now.
	Clock func() time.Time
	// Logger receives failed appends; nil means slog.Default().
	Logger *slog.Logger
	// OnError, if set, is called with the error of each failed append,
	// from the Writer's goroutine, for metrics and alerts. It must return
	// promptly, and not call the Writer: appends wait for it.
	OnError func(error)
}

// Writer is the Sink the gateway writes records to: it batches them into
// Store.Append calls, from a goroutine of its own, so that the call path
// does no I/O unless WriterOptions.Sync asks for it.
//
// Records are never dropped to keep up: when the queue is full, Write waits
// for room, and a failed append is logged and retried, with backoff, until
// it succeeds or Close gives up. An append whose outcome is unknown (the
// connection to the database broke during the commit) is retried too, so a
// record may, rarely, be stored twice; none is lost.
//
// A Writer is safe for concurrent use. Make one with NewWriter and Close it;
// the zero Writer is not usable.
type Writer struct {
	store      Store
	flushEvery time.Duration
	maxBatch   int
	sync       bool
	clock      func() time.Time
	log        *slog.Logger
	onError    func(error)

	queue   chan entry
	closing chan struct{} // closed when Close starts: Writes stop waiting for room
	drain   chan struct{} // closed once no Write can queue: the writer drains and stops
	ctx     context.Context
	cancel  context.CancelFunc // gives up on appending, when Close's ctx ends
	done    chan struct{}      // closed when the writer's goroutine returns
	wake    chan struct{}      // wakes the writer's goroutine; buffered
	urgent  atomic.Bool        // a queued entry waits for its append
	pending atomic.Int64       // entries queued and not taken: +1 after a send, -n after taking n
	err     error              // Close's result, set before done is closed
	recs    []*Record          // the writer goroutine's, for each append
	once    sync.Once

	mu     sync.RWMutex
	closed bool // guarded by mu
}

var _ Sink = (*Writer)(nil)

// entry is a queued record, or with a nil rec, a Flush's marker. done, if
// not nil, receives the outcome of the append that carried it.
type entry struct {
	rec  *Record
	done chan error
}

// NewWriter returns a Writer appending to store, and starts its goroutine,
// which Close stops. The store stays the caller's: close it after the
// Writer.
func NewWriter(store Store, opts *WriterOptions) *Writer {
	var o WriterOptions
	if opts != nil {
		o = *opts
	}
	w := &Writer{
		store:      store,
		flushEvery: o.FlushEvery,
		maxBatch:   o.MaxBatch,
		sync:       o.Sync,
		clock:      o.Clock,
		log:        o.Logger,
		onError:    o.OnError,
		closing:    make(chan struct{}),
		drain:      make(chan struct{}),
		done:       make(chan struct{}),
		wake:       make(chan struct{}, 1),
	}
	if w.flushEvery <= 0 {
		w.flushEvery = 200 * time.Millisecond
	}
	if w.maxBatch <= 0 {
		w.maxBatch = 1000
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if w.clock == nil {
		w.clock = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.queue = make(chan entry, o.QueueSize)
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w
}

// Write queues r, setting its Time from the Writer's clock if it is zero;
// r belongs to the Writer from then on. In the default mode it returns at
// once, unless the queue is full: then it waits for room, or for ctx to end
// (returning ctx's error; r is not written). With Sync, it then waits until
// r is stored, and returns the append's error (r then holds its Seq and
// Hash); if ctx ends first, it returns ctx's error, and r is still
// written. After Close it returns ErrClosed.
func (w *Writer) Write(ctx context.Context, r *Record) error {
	if r.Time.IsZero() {
		r.Time = w.clock()
	}
	if !w.sync {
		return w.enqueue(ctx, entry{rec: r})
	}
	return w.wait(ctx, entry{rec: r, done: make(chan error, 1)})
}

// Flush returns once every record written before it was called is
// stored, or given up on (which happens only when the store is closed or
// Close gives up): then it returns the error of a record given up on in the
// batch that carried the Flush, if any. If ctx ends first, it returns ctx's
// error.
func (w *Writer) Flush(ctx context.Context) error {
	return w.wait(ctx, entry{done: make(chan error, 1)})
}

// Queued returns how many records wait to be appended, not counting the
// batch being appended.
func (w *Writer) Queued() int { return len(w.queue) }

func (w *Writer) wait(ctx context.Context, e entry) error {
	if err := w.enqueue(ctx, e); err != nil {
		return err
	}
	select {
	case err := <-e.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit record queued, not yet stored: %w", ctx.Err())
	}
}

func (w *Writer) enqueue(ctx context.Context, e entry) error {
	// Close waits for the lock, so nothing is queued once it drains.
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	select {
	case w.queue <- e:
	default:
		select {
		case w.queue <- e:
		case <-w.closing:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("audit queue full: %w", ctx.Err())
		}
	}
	// The writer's goroutine needs waking when the queue stops being empty
	// (its timer starts), fills a batch, or holds an entry waited for. The
	// count goes up by one at a time between the goroutine's takes, so the
	// send that makes the queue non-empty sees 1, even when the goroutine
	// took entries before their senders counted them.
	n := w.pending.Add(1)
	if e.done != nil {
		w.urgent.Store(true)
	}
	if n == 1 || n == int64(w.maxBatch) || e.done != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Close stops taking records and appends every record queued, retrying
// failed appends until ctx ends. It then gives up on what is left, which
// Writes in sync mode waiting for it see as an error, and returns an error
// saying how many records were not stored. Close returns the same result
// when called again.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() {
		close(w.closing)
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.drain)
	})
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
	}
	return w.err
}

// run is the Writer's goroutine. It sleeps until records are queued, then
// until FlushEvery later, and appends everything queued then; at once when
// a Write or Flush waits for it, or MaxBatch records are queued. Writers
// wake it only for those, so that a Write in the default mode costs a
// channel send, not a goroutine switch.
func (w *Writer) run() {
	defer close(w.done)
	defer w.cancel()
	var (
		batch []entry
		timer = time.NewTimer(w.flushEvery)
		armed bool  // the timer runs, for the oldest queued record
		lost  int   // records given up on
		cause error // why, the last time
	)
	timer.Stop()
	// flush appends everything queued when it is called.
	flush := func() {
		batch = batch[:0]
		for range len(w.queue) {
			batch = append(batch, <-w.queue)
		}
		w.pending.Add(-int64(len(batch)))
		if n, err := w.flush(batch); n > 0 {
			lost, cause = lost+n, err
		}
		clear(batch)
	}
	for {
		switch n := len(w.queue); {
		case w.urgent.Swap(false) || n >= w.maxBatch:
			if armed {
				timer.Stop()
				armed = false
			}
			flush()
			continue
		case n > 0 && !armed:
			timer.Reset(w.flushEvery)
			armed = true
		}
		var tick <-chan time.Time
		if armed {
			tick = timer.C
		}
		select {
		case <-w.wake:
		case <-tick:
			armed = false
			flush()
		case <-w.drain:
			flush() // no Write can queue any more
			if lost > 0 {
				w.err = fmt.Errorf("close audit writer: %d records not stored: %w", lost, cause)
			}
			return
		}
	}
}

// flush appends the records of batch, MaxBatch at a time, tells the waiting
// entries the outcome, and returns how many records it gave up on, and
// why.
func (w *Writer) flush(batch []entry) (lost int, cause error) {
	for len(batch) > 0 {
		n := 0
		recs := w.recs[:0]
		for ; n < len(batch) && len(recs) < w.maxBatch; n++ {
			if r := batch[n].rec; r != nil {
				recs = append(recs, r)
			}
		}
		var err error
		if len(recs) > 0 {
			err = w.append(recs)
		}
		if err != nil {
			lost, cause = lost+len(recs), err
			w.log.Error("audit records lost", "records", len(recs), "first_request_id", recs[0].RequestID, "err", err)
		}
		for _, e := range batch[:n] {
			switch {
			case e.done == nil:
			case e.rec == nil: // a Flush: of the records before it
				e.done <- cause
			default:
				e.done <- err
			}
		}
		clear(recs)
		w.recs = recs
		batch = batch[n:]
	}
	return lost, cause
}

// Backoff between attempts to append a batch.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// append appends recs, retrying until it succeeds, the store is closed, or
// Close gives up.
func (w *Writer) append(recs []*Record) error {
	delay := retryMin
	for attempt := 1; ; attempt++ {
		err := w.store.Append(w.ctx, recs)
		if err == nil {
			if attempt > 1 {
				w.log.Info("audit append succeeded after retrying", "records", len(recs), "attempts", attempt)
			}
			return nil
		}
		if w.onError != nil {
			w.onError(err)
		}
		if w.ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return err
		}
		w.log.Error("audit append failed; retrying", "records", len(recs), "attempt", attempt, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after %d attempts)", err, attempt)
		}
		delay = min(2*delay, retryMax)
	}
}
