package limit_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/limit"
	"github.com/toolgate/toolgate/internal/limit/limittest"
)

func TestMemory(t *testing.T) {
	limittest.Run(t, func(t *testing.T) limit.Store { return limit.NewMemory(nil) })
}

func TestMemoryZero(t *testing.T) {
	limittest.Run(t, func(t *testing.T) limit.Store { return new(limit.Memory) })
}

func TestMemoryCommit(t *testing.T) {
	var got []limit.Admission
	m := limit.NewMemory(&limit.MemoryOptions{Commit: func(ctx context.Context, a []limit.Admission) error {
		got = append(got, a...)
		return nil
	}})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := limit.Charge{Key: "a", Window: time.Minute, Max: 5, Cost: 2}
	free := limit.Charge{Key: "free", Window: time.Minute, Max: 5}
	if r, err := m.Take(context.Background(), t0.Add(time.Second), []limit.Charge{a, free}); !r.OK || err != nil {
		t.Fatalf("Take = %+v, %v; want OK", r, err)
	}
	// A caller whose clock is behind logs at the newest entry's time.
	if r, err := m.Take(context.Background(), t0, []limit.Charge{a}); !r.OK || err != nil {
		t.Fatalf("Take = %+v, %v; want OK", r, err)
	}
	want := []limit.Admission{
		{Key: "a", Window: time.Minute, Max: 5, Cost: 2, At: t0.Add(time.Second)},
		{Key: "a", Window: time.Minute, Max: 5, Cost: 2, At: t0.Add(time.Second)},
	}
	if len(got) != len(want) {
		t.Fatalf("Commit got %v; want %v", got, want)
	}
	for i := range want {
		if g := got[i]; g.Key != want[i].Key || g.Cost != want[i].Cost || !g.At.Equal(want[i].At) {
			t.Errorf("Commit got[%d] = %+v; want %+v", i, g, want[i])
		}
	}
}

func TestMemoryCommitError(t *testing.T) {
	fail := true
	m := limit.NewMemory(&limit.MemoryOptions{Commit: func(ctx context.Context, a []limit.Admission) error {
		if fail {
			return context.DeadlineExceeded
		}
		return nil
	}})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := limit.Charge{Key: "a", Window: time.Minute, Max: 1, Cost: 1}
	if _, err := m.Take(context.Background(), t0, []limit.Charge{a}); err == nil {
		t.Fatalf("Take with a failing Commit = nil error; want an error")
	}
	fail = false
	if r, err := m.Take(context.Background(), t0, []limit.Charge{a}); !r.OK || err != nil {
		t.Fatalf("Take after a failed Commit = %+v, %v; want OK: a failed commit spends nothing", r, err)
	}
}

// TestMemoryCommitUndo checks that a failed Commit takes back only its own
// Take's cost from an entry it shares with another Take, and that Takes
// count an admission while it is being committed.
func TestMemoryCommitUndo(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := limit.Charge{Key: "a", Window: time.Minute, Max: 3, Cost: 1}
	committing, release := make(chan struct{}), make(chan error)
	m := limit.NewMemory(&limit.MemoryOptions{Commit: func(ctx context.Context, a []limit.Admission) error {
		if a[0].Cost == 2 {
			close(committing)
			return <-release
		}
		return nil
	}})
	big := c
	big.Cost = 2
	done := make(chan error)
	go func() {
		r, err := m.Take(ctx, t0, []limit.Charge{big})
		if err == nil {
			err = fmt.Errorf("Take = %+v, nil; want the Commit's error", r)
		} else {
			err = nil
		}
		done <- err
	}()
	<-committing
	// 2 of 3 are being committed: 1 more fits, 2 do not.
	if r, err := m.Take(ctx, t0, []limit.Charge{c}); !r.OK || err != nil {
		t.Fatalf("Take during a commit = %+v, %v; want OK", r, err)
	}
	if r, err := m.Take(ctx, t0, []limit.Charge{c}); r.OK || err != nil {
		t.Fatalf("Take during a commit = %+v, %v; want a denial", r, err)
	}
	release <- errors.New("disk full")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	us, err := m.Usage(ctx, t0, "")
	if err != nil || len(us) != 1 || us[0].Used != 1 {
		t.Fatalf("Usage after a failed commit = %v, %v; want a used 1", us, err)
	}
	if r, err := m.Take(ctx, t0, []limit.Charge{c, c}); !r.OK || err != nil {
		t.Fatalf("Take after a failed commit = %+v, %v; want OK", r, err)
	}
}

// BenchmarkMemoryTake is the gateway's hot path: one charge on a budget in
// steady state, about a third of the Takes denied.
func BenchmarkMemoryTake(b *testing.B) {
	m := limit.NewMemory(nil)
	c := []limit.Charge{{Key: "provision_applications_rate|grant|ci-runner", Window: time.Second, Max: 700, Cost: 1}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if _, err := m.Take(ctx, now, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryTake3 takes three charges at once (all_tools limits and the
// tool's own) over 1000 grants.
func BenchmarkMemoryTake3(b *testing.B) {
	m := limit.NewMemory(nil)
	var sets [1000][]limit.Charge
	for i := range sets {
		g := strconv.Itoa(i)
		sets[i] = []limit.Charge{
			{Key: "all_rate|grant|" + g, Window: time.Minute, Max: 600, Cost: 1},
			{Key: "all_rate|server|okta", Window: time.Minute, Max: 1 << 40, Cost: 1},
			{Key: "provision_rate|grant|" + g, Window: time.Minute, Max: 30, Cost: 1},
		}
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		if _, err := m.Take(ctx, now, sets[i%len(sets)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryTakeParallel(b *testing.B) {
	m := limit.NewMemory(nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var sets [64][]limit.Charge
		for i := range sets {
			sets[i] = []limit.Charge{{Key: "rate|grant|" + strconv.Itoa(i), Window: time.Second, Max: 700, Cost: 1}}
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		i := 0
		for pb.Next() {
			now = now.Add(time.Millisecond)
			if _, err := m.Take(ctx, now, sets[i%len(sets)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
