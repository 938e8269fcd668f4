package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
)

// probe is a Memory whose Appends the test controls and watches.
type probe struct {
	*audit.Memory

	mu      sync.Mutex
	batches []int         // guarded by mu; the sizes of the Appends that succeeded
	fail    int           // guarded by mu; how many more Appends fail
	failErr error         // guarded by mu; their error
	hold    chan struct{} // guarded by mu; when set, Appends wait for it to close
}

func newProbe() *probe { return &probe{Memory: audit.NewMemory()} }

func (p *probe) Append(ctx context.Context, recs []*audit.Record) error {
	p.mu.Lock()
	hold := p.hold
	var err error
	if p.fail > 0 {
		p.fail--
		err = p.failErr
		if err == nil {
			err = errors.New("disk on fire")
		}
	}
	p.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	if err := p.Memory.Append(ctx, recs); err != nil {
		return err
	}
	p.mu.Lock()
	p.batches = append(p.batches, len(recs))
	p.mu.Unlock()
	return nil
}

// appended returns the sizes of the Appends that succeeded.
func (p *probe) appended() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.batches)
}

// holdAppends makes Appends wait until the returned function is called.
func (p *probe) holdAppends() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold = ch
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.hold = nil
		p.mu.Unlock()
		close(ch)
	}
}

// ids returns the RequestIDs of p's records, in Seq order.
func (p *probe) ids(t *testing.T) []string {
	t.Helper()
	recs, err := p.Query(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.RequestID)
	}
	return ids
}

func rec(id string) *audit.Record { return &audit.Record{RequestID: id, Decision: audit.DecisionAllow} }

func write(t *testing.T, w *audit.Writer, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := w.Write(context.Background(), rec(id)); err != nil {
			t.Fatalf("Write(%s) = %v", id, err)
		}
	}
}

func closeWriter(t *testing.T, w *audit.Writer) {
	t.Helper()
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v", err)
	}
}

func wantBatches(t *testing.T, when string, p *probe, want ...int) {
	t.Helper()
	if got := p.appended(); !slices.Equal(got, want) {
		t.Fatalf("%s: Appends of %v records; want %v", when, got, want)
	}
}

// TestWriterFlushEvery checks the default mode: Write does no I/O, and a
// record is appended FlushEvery after the oldest of its batch was written,
// not later.
func TestWriterFlushEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe()
		const every = 200 * time.Millisecond
		w := audit.NewWriter(p, &audit.WriterOptions{FlushEvery: every})
		defer closeWriter(t, w)

		write(t, w, "a")
		synctest.Wait()
		wantBatches(t, "when Write returns", p)
		time.Sleep(every / 2)
		write(t, w, "b")
		time.Sleep(every/2 - time.Nanosecond)
		synctest.Wait()
		wantBatches(t, "just before FlushEvery", p)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		wantBatches(t, "at FlushEvery after the first record", p, 2)

		// The next batch has its own deadline.
		time.Sleep(time.Hour)
		write(t, w, "c")
		time.Sleep(every)
		synctest.Wait()
		wantBatches(t, "FlushEvery after the next record", p, 2, 1)
		if got := p.ids(t); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("stored %v; want [a b c]", got)
		}
	})
}

// TestWriterMaxBatch checks that a full batch is appended at once.
func TestWriterMaxBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe()
		w := audit.NewWriter(p, &audit.WriterOptions{FlushEvery: time.Second, MaxBatch: 3})
		defer closeWriter(t, w)
		write(t, w, "1", "2")
		synctest.Wait()
		wantBatches(t, "after 2 Writes", p)
		write(t, w, "3")
		synctest.Wait()
		wantBatches(t, "after 3 Writes", p, 3)
		write(t, w, "4")
		synctest.Wait()
		wantBatches(t, "after 4 Writes", p, 3)
		time.Sleep(time.Second)
		synctest.Wait()
		wantBatches(t, "after FlushEvery", p, 3, 1)
		// More than a batch queued at once is appended in batches.
		release := p.holdAppends()
		write(t, w, "5", "6", "7")
		synctest.Wait() // appending 5, 6, 7
		write(t, w, "8", "9", "10", "11", "12", "13", "14")
		release()
		synctest.Wait()
		wantBatches(t, "after 14 Writes", p, 3, 1, 3, 3, 3, 1)
	})
}

// TestWriterSync checks that in sync mode Write returns once its record is
// stored, and that writers arriving during an append share the next.
func TestWriterSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe()
		w := audit.NewWriter(p, &audit.WriterOptions{Sync: true, FlushEvery: time.Hour})
		defer closeWriter(t, w)
		release := p.holdAppends()

		var returned atomic.Int32
		var wg sync.WaitGroup
		start := func(id string) {
			wg.Go(func() {
				if err := w.Write(context.Background(), rec(id)); err != nil {
					t.Errorf("Write(%s) = %v", id, err)
				}
				returned.Add(1)
			})
		}
		start("first")
		synctest.Wait() // its append has started, and waits
		for i := range 5 {
			start(fmt.Sprint(i))
		}
		synctest.Wait()
		if n := returned.Load(); n != 0 {
			t.Fatalf("%d Writes returned before their records were stored", n)
		}
		release()
		wg.Wait()
		wantBatches(t, "after the Writes returned", p, 1, 5)
	})
}

// TestWriterQueueFull checks that Write waits for room in a full queue,
// and gives up when its context ends, leaving its record unwritten.
func TestWriterQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe()
		w := audit.NewWriter(p, &audit.WriterOptions{QueueSize: 2, MaxBatch: 1})
		release := p.holdAppends()
		write(t, w, "appending")
		synctest.Wait() // taken from the queue; its append waits
		write(t, w, "queued1", "queued2")

		done := make(chan error, 1)
		go func() { done <- w.Write(context.Background(), rec("waiting")) }()
		ctx, cancel := context.WithCancel(context.Background())
		gaveUp := make(chan error, 1)
		go func() { gaveUp <- w.Write(ctx, rec("given up")) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Write to a full queue returned %v; want it to wait", err)
		case err := <-gaveUp:
			t.Fatalf("Write to a full queue returned %v; want it to wait", err)
		default:
		}
		cancel()
		if err := <-gaveUp; !errors.Is(err, context.Canceled) {
			t.Fatalf("Write whose context ended = %v; want context.Canceled", err)
		}
		release()
		if err := <-done; err != nil {
			t.Fatalf("Write once there was room = %v", err)
		}
		closeWriter(t, w)
		if got := p.ids(t); !slices.Equal(got, []string{"appending", "queued1", "queued2", "waiting"}) {
			t.Fatalf("stored %v; want every record but the one given up, in order", got)
		}
	})
}

// TestWriterRetry checks that failed appends are logged, reported and
// retried with backoff, and lose nothing.
func TestWriterRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe()
		p.fail = 3
		var logs bytes.Buffer
		var failures atomic.Int32
		w := audit.NewWriter(p, &audit.WriterOptions{
			FlushEvery: 100 * time.Millisecond,
			Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
			OnError:    func(error) { failures.Add(1) },
		})
		defer closeWriter(t, w)
		write(t, w, "a", "b")
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if n := failures.Load(); n != 1 {
			t.Fatalf("after the first append, %d failures reported; want 1", n)
		}
		write(t, w, "c") // queued meanwhile
		// Backoff: 100ms, 200ms, 400ms, then the fourth attempt succeeds.
		time.Sleep(700*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		wantBatches(t, "before the fourth attempt", p)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		wantBatches(t, "after the fourth attempt", p, 2)
		if n := failures.Load(); n != 3 {
			t.Fatalf("%d failures reported; want 3", n)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if got := p.ids(t); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("stored %v; want [a b c]", got)
		}
		for _, want := range []string{"disk on fire", "attempt=3", "succeeded after retrying"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log does not mention %q:\n%s", want, logs.String())
			}
		}
	})
}

// TestWriterCloseGivesUp checks that Close, when its context ends while
// appends still fail, gives up and says how many records were lost, and
// that waiting sync writers hear of it.
func TestWriterCloseGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe()
		p.fail = 1 << 30
		w := audit.NewWriter(p, &audit.WriterOptions{Sync: true, Logger: slog.New(slog.DiscardHandler)})
		errs := make(chan error, 3)
		for i := range 3 {
			go func() { errs <- w.Write(context.Background(), rec(fmt.Sprint(i))) }()
		}
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := w.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "3 records not stored") || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("Close = %v; want it to report 3 records not stored, and why", err)
		}
		for range 3 {
			if err := <-errs; err == nil {
				t.Fatal("a sync Write whose record was lost returned nil")
			}
		}
		if err2 := w.Close(context.Background()); err2 == nil || err2.Error() != err.Error() {
			t.Fatalf("second Close = %v; want %v", err2, err)
		}
		if err := w.Write(context.Background(), rec("late")); !errors.Is(err, audit.ErrClosed) {
			t.Fatalf("Write after Close = %v; want ErrClosed", err)
		}
	})
}

// TestWriterStoreClosed checks that a closed store is not retried.
func TestWriterStoreClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe()
		p.fail, p.failErr = 1, fmt.Errorf("append: %w", audit.ErrClosed)
		var failures atomic.Int32
		w := audit.NewWriter(p, &audit.WriterOptions{Sync: true, Logger: slog.New(slog.DiscardHandler),
			OnError: func(error) { failures.Add(1) }})
		if err := w.Write(context.Background(), rec("a")); !errors.Is(err, audit.ErrClosed) {
			t.Fatalf("Write to a closed store = %v; want ErrClosed", err)
		}
		err := w.Close(context.Background())
		if err == nil || !strings.Contains(err.Error(), "1 records not stored") {
			t.Fatalf("Close = %v; want it to report the lost record", err)
		}
		if n := failures.Load(); n != 1 {
			t.Fatalf("%d failures reported; want 1 (no retry)", n)
		}
	})
}

// TestWriterCloseWhileFull checks that Close releases Writes waiting for
// room, and still stores everything queued.
func TestWriterCloseWhileFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe()
		w := audit.NewWriter(p, &audit.WriterOptions{QueueSize: 1, MaxBatch: 1})
		release := p.holdAppends()
		write(t, w, "appending")
		synctest.Wait()
		write(t, w, "queued")
		blocked := make(chan error, 1)
		go func() { blocked <- w.Write(context.Background(), rec("blocked")) }()
		closed := make(chan error, 1)
		synctest.Wait()
		go func() { closed <- w.Close(context.Background()) }()
		if err := <-blocked; !errors.Is(err, audit.ErrClosed) {
			t.Fatalf("Write waiting for room when Close began = %v; want ErrClosed", err)
		}
		release()
		if err := <-closed; err != nil {
			t.Fatalf("Close = %v", err)
		}
		if got := p.ids(t); !slices.Equal(got, []string{"appending", "queued"}) {
			t.Fatalf("stored %v; want [appending queued]", got)
		}
	})
}

// TestWriterFlush checks that Flush waits for the records written before
// it, and only those.
func TestWriterFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProbe()
		w := audit.NewWriter(p, &audit.WriterOptions{FlushEvery: time.Hour})
		defer closeWriter(t, w)
		write(t, w, "a", "b")
		if err := w.Flush(context.Background()); err != nil {
			t.Fatalf("Flush = %v", err)
		}
		wantBatches(t, "when Flush returns", p, 2)
		if err := w.Flush(context.Background()); err != nil {
			t.Fatalf("Flush with nothing written = %v", err)
		}
		wantBatches(t, "after a Flush with nothing written", p, 2)
		if n := w.Queued(); n != 0 {
			t.Fatalf("Queued = %d; want 0", n)
		}
	})
}

// TestWriterClock checks that Write stamps records without a time, from
// the Writer's clock.
func TestWriterClock(t *testing.T) {
	p := newProbe()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := audit.NewWriter(p, &audit.WriterOptions{Sync: true, Clock: func() time.Time { return now }})
	defer closeWriter(t, w)
	stamped, kept := rec("stamped"), rec("kept")
	kept.Time = now.Add(-time.Minute)
	for _, r := range []*audit.Record{stamped, kept} {
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := p.Query(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !recs[0].Time.Equal(now) || !recs[1].Time.Equal(now.Add(-time.Minute)) {
		t.Fatalf("stored times %v, %v; want the clock's, then the record's own", recs[0].Time, recs[1].Time)
	}
}

// drop is a Store that keeps nothing, to measure the Writer alone.
type drop struct{ *audit.Memory }

func (drop) Append(context.Context, []*audit.Record) error { return nil }

// BenchmarkWrite measures the call path in the default mode: a Write
// queues the record. drop reads no record, so one record can be written
// again and again: the figures are the Writer's alone (the gateway also
// allocates a record per call).
func BenchmarkWrite(b *testing.B) {
	w := audit.NewWriter(drop{audit.NewMemory()}, nil)
	defer w.Close(context.Background())
	ctx := context.Background()
	r := &audit.Record{RequestID: "1", GrantID: "grt_x", Server: "okta", Tool: "list_users", Decision: "allow", Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteParallel is BenchmarkWrite from concurrent callers.
func BenchmarkWriteParallel(b *testing.B) {
	w := audit.NewWriter(drop{audit.NewMemory()}, nil)
	defer w.Close(context.Background())
	ctx := context.Background()
	r := &audit.Record{Decision: "allow", Time: time.Now()}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Write(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
