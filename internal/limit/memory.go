package limit

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Memory is a Store that keeps its budgets in the process's memory. It is
// safe for concurrent use. The zero value is an empty store ready to use,
// with the default options.
//
// Budgets are spread over 64 shards, each behind its own mutex; a Take locks
// the shards of its charges in a fixed order, so multi-charge Takes neither
// deadlock nor see a half-spent state. Each budget's log is a ring buffer
// that grows to the number of entries in its window and shrinks when they
// leave, so a steady Take allocates nothing. A shard drops the budgets whose
// entries have all left their window when a Take or Usage reaches it and its
// last sweep is SweepEvery old (by the Takes' clock); there is no background
// goroutine.
type Memory struct {
	opts   MemoryOptions
	closed atomic.Bool
	shards [numShards]shard
}

// MemoryOptions configures a Memory store. The zero value, like a nil
// *MemoryOptions, means the defaults.
type MemoryOptions struct {
	// Commit, when set, makes the store a write-through mirror of a durable
	// log. An admitting Take logs its entries in memory, releases its locks
	// and calls Commit with them (never with none) before it returns; if
	// Commit returns an error, Take removes the entries again and returns
	// the error. Meanwhile other Takes count the entries, which can only
	// make them stricter, and can reach Commit concurrently, so that it may
	// write several Takes at once. It must not call the store.
	Commit func(ctx context.Context, admitted []Admission) error
	// SweepEvery is how often, by the Takes' clock, each shard drops its
	// unused budgets. The default is one minute.
	SweepEvery time.Duration
}

// NewMemory returns an empty Memory store configured by opts, which may be
// nil.
func NewMemory(opts *MemoryOptions) *Memory {
	m := &Memory{}
	if opts != nil {
		m.opts = *opts
	}
	return m
}

const (
	numShards         = 64
	defaultSweepEvery = time.Minute
	minRing           = 4 // a ring's smallest capacity; a power of two
)

type shard struct {
	mu        sync.Mutex
	budgets   map[string]*budget // guarded by mu
	nextSweep int64              // guarded by mu; UnixNano
	_         [40]byte           // one cache line per shard
}

// budget is one sliding log, a ring buffer of entries sorted by time.
type budget struct {
	window int64 // nanoseconds
	max    int64
	used   int64   // the sum of the costs in log
	log    []entry // len is a power of two
	head   int     // index of the oldest entry
	n      int     // number of entries
}

type entry struct {
	at   int64 // UnixNano
	cost int64
}

var _ Store = (*Memory)(nil)

// Take implements Store. Without the Commit option it blocks on nothing but
// its shard locks and ignores ctx.
func (m *Memory) Take(ctx context.Context, now time.Time, charges []Charge) (Result, error) {
	if err := Check(charges); err != nil {
		return Result{}, err
	}
	r, admitted, err := m.decide(now.UnixNano(), charges)
	if err != nil || len(admitted) == 0 {
		return r, err
	}
	if err := m.opts.Commit(ctx, admitted); err != nil {
		m.undo(admitted)
		return Result{}, err
	}
	return r, nil
}

// decide admits charges at t, or not, under the locks of their shards. It
// returns the admitted entries when there is a Commit option to give them
// to.
func (m *Memory) decide(t int64, charges []Charge) (Result, []Admission, error) {
	if len(charges) == 1 {
		// The hot path: one budget, one lock, nothing allocated.
		i := shardIndex(charges[0].Key)
		m.shards[i].mu.Lock()
		defer m.release(i, t)
		return m.take(t, charges)
	}
	var buf [8]uint8
	locked := shardSet(buf[:0], charges)
	for _, i := range locked {
		m.shards[i].mu.Lock()
	}
	defer m.releaseAll(locked, t)
	return m.take(t, charges)
}

// release sweeps shard i if due and unlocks it.
func (m *Memory) release(i uint8, t int64) {
	m.maybeSweep(&m.shards[i], t)
	m.shards[i].mu.Unlock()
}

// releaseAll sweeps the first of the locked shards if due and unlocks them.
func (m *Memory) releaseAll(locked []uint8, t int64) {
	if len(locked) > 0 {
		m.maybeSweep(&m.shards[locked[0]], t)
	}
	for _, i := range slices.Backward(locked) {
		m.shards[i].mu.Unlock()
	}
}

// take decides and logs charges at t, holding the locks of their shards.
func (m *Memory) take(t int64, charges []Charge) (Result, []Admission, error) {
	if m.closed.Load() {
		return Result{}, nil, ErrClosed
	}
	for i := range charges {
		c := &charges[i]
		if c.Cost == 0 {
			continue
		}
		if c.Cost > c.Max {
			return Result{Denied: i, RetryAfter: Never}, nil, nil
		}
		// Earlier charges of this Take on the same budget are not logged
		// yet but will be.
		var pending int64
		for j := range charges[:i] {
			if charges[j].Key == c.Key {
				pending += charges[j].Cost
				if pending > c.Max {
					return Result{Denied: i, RetryAfter: Never}, nil, nil
				}
			}
		}
		b := m.shard(c.Key).budgets[c.Key]
		var used int64
		if b != nil {
			b.prune(t - int64(c.Window))
			used = b.used
		}
		if need := used + pending + c.Cost - c.Max; need > 0 {
			return Result{Denied: i, RetryAfter: b.retryAfter(need, t, int64(c.Window))}, nil, nil
		}
	}
	var admitted []Admission
	for i := range charges {
		c := &charges[i]
		if c.Cost == 0 {
			continue
		}
		at := m.log(c.Key, int64(c.Window), c.Max, t, c.Cost)
		if m.opts.Commit != nil {
			if admitted == nil {
				admitted = make([]Admission, 0, len(charges)-i)
			}
			admitted = append(admitted, Admission{Key: c.Key, Window: c.Window, Max: c.Max, At: time.Unix(0, at), Cost: c.Cost})
		}
	}
	return Result{OK: true}, admitted, nil
}

// undo removes admissions that Commit failed to keep. Until then they have
// only made other Takes stricter.
func (m *Memory) undo(as []Admission) {
	for _, a := range as {
		s := m.shard(a.Key)
		s.mu.Lock()
		if b := s.budgets[a.Key]; b != nil {
			b.remove(a.At.UnixNano(), a.Cost)
		}
		s.mu.Unlock()
	}
}

// log appends an entry to the budget key, creating it if needed, at t or at
// its newest entry's time if that is later, which it returns. The caller
// holds the shard lock.
func (m *Memory) log(key string, window, maxCost, t, cost int64) int64 {
	s := m.shard(key)
	b := s.budgets[key]
	if b == nil {
		if s.budgets == nil {
			s.budgets = make(map[string]*budget)
		}
		b = &budget{log: make([]entry, minRing)}
		s.budgets[key] = b
	}
	b.window, b.max = window, maxCost
	return b.push(t, cost)
}

// Restore logs an admission without checking it against the budget, as a
// durable store does when it loads its log into its mirror. Restoring the
// entries of a budget in time order keeps the window exact; an entry older
// than the newest one is logged at the newest one's time. It returns
// ErrClosed after Close.
func (m *Memory) Restore(a Admission) error {
	if a.Cost <= 0 || a.Window <= 0 {
		return nil
	}
	s := m.shard(a.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	m.log(a.Key, int64(a.Window), a.Max, a.At.UnixNano(), a.Cost)
	return nil
}

// Usage implements Store. It drops the entries and budgets it finds expired.
func (m *Memory) Usage(ctx context.Context, now time.Time, prefix string) ([]Usage, error) {
	t := now.UnixNano()
	var out []Usage
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		if m.closed.Load() {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		for key, b := range s.budgets {
			if b.prune(t - b.window); b.n == 0 {
				delete(s.budgets, key)
				continue
			}
			if strings.HasPrefix(key, prefix) {
				out = append(out, Usage{
					Key:      key,
					Used:     b.used,
					Max:      b.max,
					Window:   time.Duration(b.window),
					NextFree: time.Duration(b.oldest().at + b.window - t),
				})
			}
		}
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Usage) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Close implements Store. It frees the budgets; Take, Usage and Restore
// return ErrClosed after it.
func (m *Memory) Close() error {
	m.closed.Store(true)
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.budgets = nil
		s.mu.Unlock()
	}
	return nil
}

func (m *Memory) shard(key string) *shard { return &m.shards[shardIndex(key)] }

// shardIndex hashes key with FNV-1a: fast on short keys, no allocation, and
// no seed for the zero Memory to lack.
func shardIndex(key string) uint8 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return uint8(h % numShards)
}

// shardSet appends to dst the sorted, distinct indexes of the shards of the
// charges that spend.
func shardSet(dst []uint8, charges []Charge) []uint8 {
	for i := range charges {
		if charges[i].Cost == 0 {
			continue
		}
		if idx := shardIndex(charges[i].Key); !slices.Contains(dst, idx) {
			dst = append(dst, idx)
		}
	}
	slices.Sort(dst)
	return dst
}

// maybeSweep drops the shard's budgets with no entry left in their window,
// at most once per SweepEvery of the Takes' clock (or when that clock jumps
// back). The caller holds the shard lock.
func (m *Memory) maybeSweep(s *shard, t int64) {
	every := int64(m.opts.SweepEvery)
	if every <= 0 {
		every = int64(defaultSweepEvery)
	}
	if t < s.nextSweep && t > s.nextSweep-2*every {
		return
	}
	s.nextSweep = t + every
	for key, b := range s.budgets {
		if b.n == 0 || b.newest().at <= t-b.window {
			delete(s.budgets, key)
		}
	}
}

func (b *budget) oldest() entry { return b.log[b.head] }

func (b *budget) newest() entry { return b.log[(b.head+b.n-1)&(len(b.log)-1)] }

// push logs cost at t, or at the newest entry's time if that is later,
// merging it with the newest entry when they share their time. It returns
// the time logged.
func (b *budget) push(t, cost int64) int64 {
	b.used += cost
	if b.n > 0 {
		last := &b.log[(b.head+b.n-1)&(len(b.log)-1)]
		if t <= last.at {
			last.cost += cost
			return last.at
		}
	}
	if b.n == len(b.log) {
		b.resize(2 * len(b.log))
	}
	b.log[(b.head+b.n)&(len(b.log)-1)] = entry{at: t, cost: cost}
	b.n++
	return t
}

// remove takes cost back from the entry logged at at, if it is still there.
func (b *budget) remove(at, cost int64) {
	for i := b.n - 1; i >= 0; i-- {
		e := &b.log[(b.head+i)&(len(b.log)-1)]
		if e.at < at {
			return
		}
		if e.at == at {
			c := min(cost, e.cost)
			e.cost -= c
			b.used -= c
			if e.cost == 0 && i == b.n-1 {
				b.n--
			}
			return
		}
	}
}

// prune drops the entries logged at or before cutoff, which have left the
// window, and shrinks the ring when it is mostly empty.
func (b *budget) prune(cutoff int64) {
	for b.n > 0 && b.log[b.head].at <= cutoff {
		b.used -= b.log[b.head].cost
		b.head = (b.head + 1) & (len(b.log) - 1)
		b.n--
	}
	size := len(b.log)
	for size > minRing && b.n <= size/4 {
		size /= 2
	}
	if size != len(b.log) {
		b.resize(size)
	}
}

func (b *budget) resize(size int) {
	log := make([]entry, size)
	for i := range b.n {
		log[i] = b.log[(b.head+i)&(len(b.log)-1)]
	}
	b.log, b.head = log, 0
}

// retryAfter returns how long after t the oldest entries that free need
// leave the window, or Never if the whole log does not free need. b may be
// nil.
func (b *budget) retryAfter(need, t, window int64) time.Duration {
	if b == nil {
		return Never
	}
	var freed int64
	for i := range b.n {
		e := b.log[(b.head+i)&(len(b.log)-1)]
		if freed += e.cost; freed >= need {
			return time.Duration(e.at + window - t)
		}
	}
	return Never
}
