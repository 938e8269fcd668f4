// Package limittest is the contract every limit.Store passes: exact sliding
// windows, all-or-nothing admission, cost accounting, usage reports and
// expiry, under concurrency. Each backend's tests call Run.
package limittest

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/limit"
)

// t0 is the suite's epoch. Every time the suite passes is a whole number of
// milliseconds after it, so stores that keep microseconds pass too.
var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// Run runs the contract suite. newStore is called once per subtest and must
// return an empty store that takes its clock from the now passed to Take and
// Usage; the suite closes it. newStore may register cleanups with t.
func Run(t *testing.T, newStore func(t *testing.T) limit.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s limit.Store)
	}{
		{"Concurrent", testConcurrent},
		{"ConcurrentAllOrNothing", testConcurrentAllOrNothing},
		{"SlidingWindow", testSlidingWindow},
		{"Cost", testCost},
		{"ZeroCost", testZeroCost},
		{"AllOrNothing", testAllOrNothing},
		{"SameKeyTwice", testSameKeyTwice},
		{"Usage", testUsage},
		{"Expiry", testExpiry},
		{"ClockBehind", testClockBehind},
		{"Model", testModel},
		{"Invalid", testInvalid},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tt.f(t, s)
		})
	}
}

// take calls s.Take and fails the test on an error.
func take(t *testing.T, s limit.Store, now time.Time, charges ...limit.Charge) limit.Result {
	t.Helper()
	r, err := s.Take(context.Background(), now, charges)
	if err != nil {
		t.Fatalf("Take(%v, %v) = %v", now.Sub(t0), charges, err)
	}
	return r
}

// want checks a Take's result against want.
func want(t *testing.T, s limit.Store, now time.Time, want limit.Result, charges ...limit.Charge) {
	t.Helper()
	if want.OK {
		want.Denied, want.RetryAfter = 0, 0
	}
	got := take(t, s, now, charges...)
	if got != want {
		t.Fatalf("Take(t0+%v, %v) = %+v; want %+v", now.Sub(t0), charges, got, want)
	}
}

var admit = limit.Result{OK: true}

func deny(i int, retry time.Duration) limit.Result {
	return limit.Result{Denied: i, RetryAfter: retry}
}

// usage returns s.Usage by key, failing the test on an error.
func usage(t *testing.T, s limit.Store, now time.Time, prefix string) map[string]limit.Usage {
	t.Helper()
	us, err := s.Usage(context.Background(), now, prefix)
	if err != nil {
		t.Fatalf("Usage(t0+%v, %q) = %v", now.Sub(t0), prefix, err)
	}
	if !slices.IsSortedFunc(us, func(a, b limit.Usage) int {
		if a.Key < b.Key {
			return -1
		}
		return 1
	}) {
		t.Errorf("Usage(t0+%v, %q) is not sorted by key: %v", now.Sub(t0), prefix, us)
	}
	m := make(map[string]limit.Usage, len(us))
	for _, u := range us {
		m[u.Key] = u
	}
	return m
}

func used(t *testing.T, s limit.Store, now time.Time, key string) int64 {
	t.Helper()
	return usage(t, s, now, key)[key].Used
}

func testConcurrent(t *testing.T, s limit.Store) {
	c := limit.Charge{Key: "conc", Window: time.Minute, Max: 30, Cost: 1}
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 500 {
		wg.Go(func() {
			<-start
			// Clock readings within the window, racing out of order.
			r, err := s.Take(context.Background(), at(time.Duration(i%50)*time.Millisecond), []limit.Charge{c})
			if err != nil {
				t.Errorf("Take = %v", err)
			}
			if r.OK {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := ok.Load(); got != 30 {
		t.Errorf("500 concurrent Takes against max 30 admitted %d; want 30", got)
	}
	if got := used(t, s, at(time.Second), "conc"); got != 30 {
		t.Errorf("Usage(conc).Used = %d; want 30", got)
	}
}

func testConcurrentAllOrNothing(t *testing.T, s limit.Store) {
	a := limit.Charge{Key: "a", Window: time.Minute, Max: 30, Cost: 1}
	b := limit.Charge{Key: "b", Window: time.Minute, Max: 20, Cost: 1}
	// Both orders, to catch lock-order deadlocks, and a alone.
	sets := [][]limit.Charge{{a, b}, {b, a}, {a}}
	var okB, okA atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 500 {
		wg.Go(func() {
			<-start
			cs := sets[i%len(sets)]
			r, err := s.Take(context.Background(), t0, cs)
			if err != nil {
				t.Errorf("Take = %v", err)
			}
			if r.OK {
				okA.Add(1)
				if len(cs) == 2 {
					okB.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	u := usage(t, s, t0, "")
	if u["a"].Used != 30 || okA.Load() != 30 {
		t.Errorf("budget a (max 30): used %d, %d admissions; want 30, 30", u["a"].Used, okA.Load())
	}
	if u["b"].Used != okB.Load() || okB.Load() > 20 {
		t.Errorf("budget b (max 20): used %d, %d admissions; want equal and at most 20", u["b"].Used, okB.Load())
	}
}

func testSlidingWindow(t *testing.T, s limit.Store) {
	c := limit.Charge{Key: "slide", Window: 10 * time.Second, Max: 3, Cost: 1}
	want(t, s, at(0), admit, c)
	want(t, s, at(1*time.Second), admit, c)
	want(t, s, at(2*time.Second), admit, c)
	want(t, s, at(3*time.Second), deny(0, 7*time.Second), c)
	want(t, s, at(10*time.Second-time.Millisecond), deny(0, time.Millisecond), c)
	// The entry of t0 leaves at exactly t0+window: the window is (now-10s, now].
	want(t, s, at(10*time.Second), admit, c)
	want(t, s, at(10*time.Second), deny(0, time.Second), c)
	want(t, s, at(11*time.Second), admit, c)
	want(t, s, at(12*time.Second), admit, c)
	want(t, s, at(12*time.Second), deny(0, 8*time.Second), c)
	if got := used(t, s, at(12*time.Second), "slide"); got != 3 {
		t.Errorf("Usage(slide).Used = %d; want 3", got)
	}
}

func testCost(t *testing.T, s limit.Store) {
	c := func(cost int64) limit.Charge {
		return limit.Charge{Key: "cost", Window: time.Minute, Max: 10, Cost: cost}
	}
	want(t, s, at(0), admit, c(4))
	want(t, s, at(time.Second), admit, c(4))
	// 8 + 3 > 10: one more unit is needed, which t0's entry frees.
	want(t, s, at(2*time.Second), deny(0, 58*time.Second), c(3))
	// 8 + 7 > 10: t0's and t0+1s's entries must both leave.
	want(t, s, at(2*time.Second), deny(0, 59*time.Second), c(7))
	want(t, s, at(2*time.Second), admit, c(2))
	want(t, s, at(3*time.Second), deny(0, 57*time.Second), c(1))
	want(t, s, at(3*time.Second), deny(0, limit.Never), c(11))
	if got := used(t, s, at(3*time.Second), "cost"); got != 10 {
		t.Errorf("Usage(cost).Used = %d; want 10", got)
	}
	want(t, s, at(time.Minute), admit, c(4))
	if got := used(t, s, at(time.Minute), "cost"); got != 10 {
		t.Errorf("Usage(cost).Used at t0+1m = %d; want 10", got)
	}
	// A budget with max 0 admits nothing but zero costs.
	zero := limit.Charge{Key: "zero", Window: time.Minute, Max: 0, Cost: 1}
	want(t, s, at(0), deny(0, limit.Never), zero)
}

func testZeroCost(t *testing.T, s limit.Store) {
	c := limit.Charge{Key: "zc", Window: time.Minute, Max: 1, Cost: 1}
	want(t, s, at(0), admit, c)
	want(t, s, at(0), deny(0, time.Minute), c)
	free := c
	free.Cost = 0
	want(t, s, at(0), admit, free)
	want(t, s, at(0), admit, limit.Charge{Key: "zc-fresh", Window: time.Minute, Max: 0, Cost: 0})
	u := usage(t, s, at(0), "")
	if len(u) != 1 || u["zc"].Used != 1 {
		t.Errorf("Usage after zero-cost Takes = %v; want only zc, used 1", u)
	}
}

func testAllOrNothing(t *testing.T, s limit.Store) {
	a := limit.Charge{Key: "aon|a", Window: time.Minute, Max: 5, Cost: 1}
	b := limit.Charge{Key: "aon|b", Window: 30 * time.Second, Max: 1, Cost: 1}
	want(t, s, at(0), admit, a, b)
	want(t, s, at(time.Second), deny(1, 29*time.Second), a, b)
	want(t, s, at(time.Second), deny(0, 29*time.Second), b, a)
	big := limit.Charge{Key: "aon|c", Window: time.Minute, Max: 5, Cost: 6}
	want(t, s, at(time.Second), deny(1, limit.Never), a, big)
	u := usage(t, s, at(time.Second), "aon|")
	if u["aon|a"].Used != 1 || u["aon|b"].Used != 1 || len(u) != 2 {
		t.Fatalf("Usage after denied Takes = %v; want aon|a and aon|b used 1", u)
	}
	want(t, s, at(time.Second), admit, a)
	if got := used(t, s, at(time.Second), "aon|a"); got != 2 {
		t.Errorf("Usage(aon|a).Used = %d; want 2", got)
	}
	want(t, s, at(30*time.Second), admit, b, a)
}

func testSameKeyTwice(t *testing.T, s limit.Store) {
	c := func(cost int64) limit.Charge {
		return limit.Charge{Key: "twice", Window: time.Minute, Max: 3, Cost: cost}
	}
	// Together they exceed the max: they never fit.
	want(t, s, at(0), deny(1, limit.Never), c(2), c(2))
	if u := usage(t, s, at(0), ""); len(u) != 0 {
		t.Errorf("Usage after a denied Take = %v; want none", u)
	}
	want(t, s, at(0), admit, c(1), c(2))
	if got := used(t, s, at(0), "twice"); got != 3 {
		t.Errorf("Usage(twice).Used = %d; want 3", got)
	}
	want(t, s, at(time.Second), admit, c(0))
	want(t, s, at(time.Second), deny(0, 59*time.Second), c(1))
}

func testUsage(t *testing.T, s limit.Store) {
	a := limit.Charge{Key: "p|a", Window: 10 * time.Second, Max: 5, Cost: 1}
	b := limit.Charge{Key: "p|b", Window: time.Minute, Max: 100, Cost: 7}
	q := limit.Charge{Key: "q|c", Window: time.Hour, Max: 2, Cost: 2}
	want(t, s, at(0), admit, a)
	want(t, s, at(2*time.Second), admit, a, b, q)
	all := usage(t, s, at(5*time.Second), "")
	wantAll := map[string]limit.Usage{
		"p|a": {Key: "p|a", Used: 2, Max: 5, Window: 10 * time.Second, NextFree: 5 * time.Second},
		"p|b": {Key: "p|b", Used: 7, Max: 100, Window: time.Minute, NextFree: 57 * time.Second},
		"q|c": {Key: "q|c", Used: 2, Max: 2, Window: time.Hour, NextFree: time.Hour - 3*time.Second},
	}
	if !equal(all, wantAll) {
		t.Errorf("Usage(t0+5s, \"\") = %v; want %v", all, wantAll)
	}
	p := usage(t, s, at(5*time.Second), "p|")
	delete(wantAll, "q|c")
	if !equal(p, wantAll) {
		t.Errorf("Usage(t0+5s, \"p|\") = %v; want %v", p, wantAll)
	}
	// t0's entry of p|a has left; its next one leaves at t0+12s.
	a2 := usage(t, s, at(10*time.Second), "p|a")["p|a"]
	if a2.Used != 1 || a2.NextFree != 2*time.Second {
		t.Errorf("Usage(t0+10s, p|a) = %+v; want used 1, next free in 2s", a2)
	}
	if u := usage(t, s, at(5*time.Second), "nothing"); len(u) != 0 {
		t.Errorf("Usage(t0+5s, \"nothing\") = %v; want none", u)
	}
}

func equal(a, b map[string]limit.Usage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func testExpiry(t *testing.T, s limit.Store) {
	c := limit.Charge{Key: "exp", Window: time.Second, Max: 3, Cost: 1}
	for range 3 {
		want(t, s, at(0), admit, c)
	}
	want(t, s, at(500*time.Millisecond), deny(0, 500*time.Millisecond), c)
	if u := usage(t, s, at(time.Second), ""); len(u) != 0 {
		t.Errorf("Usage once the window has passed = %v; want none", u)
	}
	for range 3 {
		want(t, s, at(time.Second), admit, c)
	}
	want(t, s, at(time.Second), deny(0, time.Second), c)
	if u := usage(t, s, at(time.Hour), ""); len(u) != 0 {
		t.Errorf("Usage an hour later = %v; want none", u)
	}
}

// testClockBehind checks a caller whose clock is behind the newest entry:
// the later entry still counts, and an admission is logged no earlier than
// it, which keeps the guarantee on the later clock.
func testClockBehind(t *testing.T, s limit.Store) {
	c := limit.Charge{Key: "skew", Window: 10 * time.Second, Max: 2, Cost: 1}
	want(t, s, at(5*time.Second), admit, c)
	want(t, s, at(0), admit, c)
	want(t, s, at(0), deny(0, 15*time.Second), c)
	want(t, s, at(12*time.Second), deny(0, 3*time.Second), c)
	want(t, s, at(15*time.Second), admit, c, c)
}

// testModel runs a pseudo-random sequence of Takes and checks each result
// against a reference sliding log, then checks the guarantee itself: no span
// of a window holds more admitted cost than the max.
func testModel(t *testing.T, s limit.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	budgets := []limit.Charge{
		{Key: "m|x", Window: 2 * time.Second, Max: 7},
		{Key: "m|y", Window: 3 * time.Second, Max: 5},
		{Key: "m|z", Window: time.Second, Max: 1},
	}
	ref := model{}
	now := t0
	for i := range 600 {
		now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
		var cs []limit.Charge
		for _, j := range rng.Perm(len(budgets))[:1+rng.IntN(2)] {
			c := budgets[j]
			c.Cost = int64(rng.IntN(4))
			if rng.IntN(20) == 0 {
				c.Cost = c.Max + 1
			}
			cs = append(cs, c)
		}
		got := take(t, s, now, cs...)
		if w := ref.take(now, cs); got != w {
			t.Fatalf("step %d: Take(t0+%v, %v) = %+v; want %+v", i, now.Sub(t0), cs, got, w)
		}
	}
	for _, b := range budgets {
		log := ref.logs[b.Key]
		for i, e := range log {
			sum := int64(0)
			for _, f := range log[:i+1] {
				if f.at.After(e.at.Add(-b.Window)) {
					sum += f.cost
				}
			}
			if sum > b.Max {
				t.Errorf("%s: %d spent in the window ending at t0+%v; max %d", b.Key, sum, e.at.Sub(t0), b.Max)
			}
		}
		var sum int64
		for _, e := range log {
			if e.at.After(now.Add(-b.Window)) {
				sum += e.cost
			}
		}
		if got := used(t, s, now, b.Key); got != sum {
			t.Errorf("Usage(%s).Used = %d; want %d", b.Key, got, sum)
		}
	}
}

// model is a plain sliding log, the reference for testModel.
type model struct {
	logs map[string][]modelEntry
}

type modelEntry struct {
	at   time.Time
	cost int64
}

func (m *model) take(now time.Time, cs []limit.Charge) limit.Result {
	if m.logs == nil {
		m.logs = map[string][]modelEntry{}
	}
	for i, c := range cs {
		if c.Cost == 0 {
			continue
		}
		var pending int64
		for _, d := range cs[:i] {
			if d.Key == c.Key {
				pending += d.Cost
			}
		}
		var sum int64
		var live []modelEntry
		for _, e := range m.logs[c.Key] {
			if e.at.After(now.Add(-c.Window)) {
				sum += e.cost
				live = append(live, e)
			}
		}
		need := sum + pending + c.Cost - c.Max
		if need <= 0 {
			continue
		}
		r := limit.Result{Denied: i, RetryAfter: limit.Never}
		var freed int64
		for _, e := range live {
			if freed += e.cost; freed >= need && pending+c.Cost <= c.Max {
				r.RetryAfter = e.at.Add(c.Window).Sub(now)
				break
			}
		}
		return r
	}
	for _, c := range cs {
		if c.Cost == 0 {
			continue
		}
		log := m.logs[c.Key]
		when := now
		if n := len(log); n > 0 && log[n-1].at.After(when) {
			when = log[n-1].at
		}
		m.logs[c.Key] = append(log, modelEntry{when, c.Cost})
	}
	return limit.Result{OK: true}
}

func testInvalid(t *testing.T, s limit.Store) {
	ok := limit.Charge{Key: "inv|ok", Window: time.Minute, Max: 1, Cost: 1}
	for _, c := range []limit.Charge{
		{Key: "inv|w", Window: 0, Max: 1, Cost: 1},
		{Key: "inv|w", Window: -time.Second, Max: 1, Cost: 1},
		{Key: "inv|w", Window: limit.MaxWindow + 1, Max: 1, Cost: 1},
		{Key: "inv|m", Window: time.Minute, Max: -1, Cost: 1},
		{Key: "inv|m", Window: time.Minute, Max: limit.MaxBudget + 1, Cost: 1},
		{Key: "inv|c", Window: time.Minute, Max: 1, Cost: -1},
	} {
		r, err := s.Take(context.Background(), t0, []limit.Charge{ok, c})
		if !errors.Is(err, limit.ErrInvalid) {
			t.Errorf("Take(%+v) = %+v, %v; want ErrInvalid", c, r, err)
		}
	}
	if u := usage(t, s, t0, ""); len(u) != 0 {
		t.Errorf("Usage after invalid Takes = %v; want none", u)
	}
	want(t, s, t0, admit)
}

func testClose(t *testing.T, s limit.Store) {
	c := limit.Charge{Key: "close", Window: time.Minute, Max: 1, Cost: 1}
	want(t, s, t0, admit, c)
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if r, err := s.Take(context.Background(), t0, []limit.Charge{c}); err == nil {
		t.Errorf("Take after Close = %+v, nil; want an error", r)
	}
	if _, err := s.Usage(context.Background(), t0, ""); err == nil {
		t.Errorf("Usage after Close = nil error; want an error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
}
