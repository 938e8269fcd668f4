package limit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func (m *Memory) budgetCount() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.budgets)
		s.mu.Unlock()
	}
	return n
}

// TestMemoryBounded checks that budgets whose entries have left their
// window are dropped, by Takes on their shard and by Usage, and that a
// budget's ring shrinks when its entries leave.
func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemory(&MemoryOptions{SweepEvery: time.Minute})
	for i := range 1000 {
		c := []Charge{{Key: "k" + strconv.Itoa(i), Window: time.Second, Max: 1, Cost: 1}}
		if r, err := m.Take(ctx, t0, c); !r.OK || err != nil {
			t.Fatalf("Take(%v) = %+v, %v", c, r, err)
		}
	}
	if n := m.budgetCount(); n != 1000 {
		t.Fatalf("%d budgets after 1000 keys; want 1000", n)
	}
	// A minute later, a Take on each shard sweeps it: only the new keys stay.
	for i := range 5000 {
		c := []Charge{{Key: "n" + strconv.Itoa(i), Window: time.Second, Max: 1, Cost: 0}}
		if _, err := m.Take(ctx, t0.Add(time.Minute), c); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.budgetCount(); n != 0 {
		t.Errorf("%d budgets after every shard's sweep; want 0", n)
	}

	key := "big"
	for i := range 1000 {
		c := []Charge{{Key: key, Window: time.Second, Max: 1000, Cost: 1}}
		if r, err := m.Take(ctx, t0.Add(time.Duration(i)*time.Microsecond), c); !r.OK || err != nil {
			t.Fatalf("Take(%v) = %+v, %v", c, r, err)
		}
	}
	b := m.shard(key).budgets[key]
	if b.n != 1000 || len(b.log) != 1024 {
		t.Fatalf("ring after 1000 entries: %d entries in %d slots; want 1000 in 1024", b.n, len(b.log))
	}
	c := []Charge{{Key: key, Window: time.Second, Max: 1000, Cost: 1}}
	if r, err := m.Take(ctx, t0.Add(time.Second+999*time.Microsecond), c); !r.OK || err != nil {
		t.Fatalf("Take(%v) = %+v, %v", c, r, err)
	}
	if b.n != 1 || len(b.log) != minRing {
		t.Errorf("ring once its entries left: %d entries in %d slots; want 1 in %d", b.n, len(b.log), minRing)
	}
	if _, err := m.Usage(ctx, t0.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if n := m.budgetCount(); n != 0 {
		t.Errorf("%d budgets after Usage an hour later; want 0", n)
	}
}
