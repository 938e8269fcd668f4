package lastused

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/toolgate/toolgate/internal/grant"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// recorder is a Write that keeps what it was given and fails on demand.
type recorder struct {
	mu     sync.Mutex
	writes []map[string]time.Time // guarded by mu
	fail   error                  // guarded by mu
}

func (r *recorder) write(_ context.Context, uses map[string]time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.writes = append(r.writes, maps.Clone(uses))
	return nil
}

func (r *recorder) get() []map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

func TestCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		b := Start(5*time.Second, r.write, t.Logf)
		for i := range 1000 {
			b.Touch("a", t0.Add(time.Duration(i%7)*time.Second))
		}
		b.Touch("b", t0)
		synctest.Wait()
		if w := r.get(); len(w) != 0 {
			t.Fatalf("writes before the interval = %v; want none", w)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		want := map[string]time.Time{"a": t0.Add(6 * time.Second), "b": t0}
		if w := r.get(); len(w) != 1 || !maps.Equal(w[0], want) {
			t.Fatalf("writes after 5s = %v; want [%v]", w, want)
		}

		// Nothing pending: nothing written, however long we wait.
		time.Sleep(time.Minute)
		synctest.Wait()
		if w := r.get(); len(w) != 1 {
			t.Fatalf("writes when idle = %v; want the first only", w)
		}

		// A use now is written 5s after it, not earlier.
		b.Touch("a", t0.Add(time.Hour))
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if w := r.get(); len(w) != 1 {
			t.Fatalf("writes 4s after a use = %d; want 1", len(w))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if w := r.get(); len(w) != 2 || !maps.Equal(w[1], map[string]time.Time{"a": t0.Add(time.Hour)}) {
			t.Fatalf("writes = %v; want a second with a at t0+1h", w)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
	})
}

func TestRetryAndMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{fail: errors.New("disk full")}
		var logged []string
		b := Start(time.Second, r.write, func(f string, args ...any) { logged = append(logged, f) })
		b.Touch("a", t0)
		time.Sleep(time.Second)
		synctest.Wait()
		if len(logged) != 1 {
			t.Fatalf("logged %d failures; want 1", len(logged))
		}
		// The failed batch stays pending and visible; a newer use wins.
		b.Touch("a", t0.Add(time.Minute))
		g := &grant.Grant{ID: "a"}
		b.Merge([]*grant.Grant{g})
		if !g.LastUsed.Equal(t0.Add(time.Minute)) {
			t.Fatalf("Merge: LastUsed = %v; want t0+1m", g.LastUsed)
		}
		r.mu.Lock()
		r.fail = nil
		r.mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		if w := r.get(); len(w) != 1 || !w[0]["a"].Equal(t0.Add(time.Minute)) {
			t.Fatalf("writes after recovery = %v; want a at t0+1m", w)
		}
		b.Close()
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		b := Start(time.Hour, r.write, t.Logf)
		b.Touch("a", t0)
		if err := b.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		if w := r.get(); len(w) != 1 || !w[0]["a"].Equal(t0) {
			t.Fatalf("writes at Close = %v; want a at t0", w)
		}
		if err := b.Touch("a", t0); !errors.Is(err, grant.ErrClosed) {
			t.Fatalf("Touch after Close = %v; want ErrClosed", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
}

func BenchmarkTouch(b *testing.B) {
	r := &recorder{}
	bt := Start(5*time.Second, r.write, b.Logf)
	defer bt.Close()
	ids := []string{"grt_aaaaaaaaaaaaaaaa", "grt_bbbbbbbbbbbbbbbb", "grt_cccccccccccccccc", "grt_dddddddddddddddd"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			bt.Touch(ids[i%len(ids)], t0.Add(time.Duration(i)))
			i++
		}
	})
}
