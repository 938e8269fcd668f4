// Package lastused coalesces Store.Touch calls: it keeps the latest use of
// each grant in memory and has them written in batches, at most once per
// interval, so that recording a use costs a map update, not a database
// write.
package lastused

import (
	"context"
	"log"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/grant"
)

// Write stores the latest uses, grant ID to time, in one batch. It must
// ignore unknown IDs and times older than those stored.
type Write func(ctx context.Context, uses map[string]time.Time) error

// writeTimeout bounds one batch write, so that Close cannot hang on a
// database that stopped answering.
const writeTimeout = 30 * time.Second

// Batch coalesces uses. Its methods are safe for concurrent use. Make one
// with Start; the zero Batch is not usable.
type Batch struct {
	every time.Duration
	write Write
	logf  func(format string, args ...any)

	kick chan struct{} // a use is pending; capacity 1
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the writer goroutine returns

	mu       sync.Mutex
	pending  map[string]time.Time // guarded by mu; not yet being written
	inflight map[string]time.Time // guarded by mu; being written
	closed   bool                 // guarded by mu
}

// Start returns a Batch whose goroutine calls write with the uses pending,
// every after the first of them, and retries after every again when write
// fails, logging the error with logf (nil means log.Printf). Close stops it.
func Start(every time.Duration, write Write, logf func(format string, args ...any)) *Batch {
	if logf == nil {
		logf = log.Printf
	}
	b := &Batch{
		every:   every,
		write:   write,
		logf:    logf,
		kick:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: make(map[string]time.Time),
	}
	go b.run()
	return b
}

// Touch records a use of grant id at time at, keeping the latest time per
// grant. It returns grant.ErrClosed after Close.
func (b *Batch) Touch(id string, at time.Time) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return grant.ErrClosed
	}
	first := len(b.pending) == 0
	if old, ok := b.pending[id]; !ok || at.After(old) {
		b.pending[id] = at
	}
	b.mu.Unlock()
	if first {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Merge raises the LastUsed of each grant in gs to its latest use not yet
// written, so that a List shows uses as soon as they are recorded.
func (b *Batch) Merge(gs []*grant.Grant) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, g := range gs {
		for _, m := range []map[string]time.Time{b.inflight, b.pending} {
			if at, ok := m[g.ID]; ok && at.After(g.LastUsed) {
				g.LastUsed = at
			}
		}
	}
}

func (b *Batch) run() {
	defer close(b.done)
	for {
		select {
		case <-b.kick:
		case <-b.quit:
			return
		}
		t := time.NewTimer(b.every)
		select {
		case <-t.C:
		case <-b.quit:
			t.Stop()
			return
		}
		if err := b.flush(); err != nil {
			b.logf("grant store: record last uses: %v (retrying in %v)", err, b.every)
			select {
			case b.kick <- struct{}{}:
			default:
			}
		}
	}
}

// flush writes the pending uses. On failure it puts them back, under any
// newer ones, for the next flush.
func (b *Batch) flush() error {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return nil
	}
	uses := b.pending
	b.inflight, b.pending = uses, make(map[string]time.Time)
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	err := b.write(ctx, uses)
	cancel()

	b.mu.Lock()
	defer b.mu.Unlock()
	b.inflight = nil
	if err != nil {
		for id, at := range uses {
			if old, ok := b.pending[id]; !ok || at.After(old) {
				b.pending[id] = at
			}
		}
	}
	return err
}

// Close stops the goroutine, refuses further Touches and writes the uses
// still pending, returning the write's error. Calling it again returns nil.
func (b *Batch) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.quit)
	<-b.done
	return b.flush()
}
