package approval

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is a Store that keeps approvals in the process's memory, for a
// gateway without a state directory and for tests: they do not survive the
// process, and no other process sees them. It is safe for concurrent use.
// Make one with NewMemory; the zero Memory is not usable.
type Memory struct {
	mu     sync.Mutex
	byID   map[string]*Approval // guarded by mu; nil once closed
	closed bool                 // guarded by mu
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{byID: make(map[string]*Approval)}
}

// lock locks m and reports whether it is open; the caller unlocks.
func (m *Memory) lock() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Create implements Store.
func (m *Memory) Create(ctx context.Context, a *Approval) error {
	if err := a.Check(); err != nil {
		return err
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.byID[a.ID]; ok {
		return fmt.Errorf("create approval: %w: %s", ErrExists, a.ID)
	}
	c := a.Clone()
	c.Created, c.Expires = Round(c.Created), Round(c.Expires)
	m.byID[a.ID] = c
	return nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, id string) (*Approval, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	a, ok := m.byID[id]
	if !ok {
		return nil, fmt.Errorf("get approval %q: %w", id, ErrNotFound)
	}
	return a.Clone(), nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, f Filter) ([]*Approval, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	var as []*Approval
	for _, a := range m.byID {
		if f.Match(a) {
			as = append(as, a.Clone())
		}
	}
	m.mu.Unlock()
	slices.SortFunc(as, newestFirst)
	if f.Limit > 0 && len(as) > f.Limit {
		as = as[:f.Limit]
	}
	return as, nil
}

func newestFirst(a, b *Approval) int {
	if c := b.Created.Compare(a.Created); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// Decide implements Store.
func (m *Memory) Decide(ctx context.Context, id string, d Decision) (*Approval, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	a, ok := m.byID[id]
	if !ok {
		return nil, fmt.Errorf("decide approval %q: %w", id, ErrNotFound)
	}
	next, err := a.Apply(d)
	if next != nil {
		m.byID[id] = next
	}
	if err != nil {
		return nil, err
	}
	return next.Clone(), nil
}

// Consume implements Store.
func (m *Memory) Consume(ctx context.Context, k Key, at time.Time) (*Approval, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var first *Approval
	for _, a := range m.byID {
		if a.Key() == k && a.Consumable(at) && (first == nil || a.DecidedAt.Before(first.DecidedAt) ||
			a.DecidedAt.Equal(first.DecidedAt) && a.ID < first.ID) {
			first = a
		}
	}
	if first == nil {
		return nil, fmt.Errorf("consume approval for %s/%s: %w", k.Server, k.Tool, ErrNotFound)
	}
	first.ConsumedAt = Round(at)
	return first.Clone(), nil
}

// FindPending implements Store.
func (m *Memory) FindPending(ctx context.Context, k Key, at time.Time) (*Approval, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var newest *Approval
	for _, a := range m.byID {
		if a.Key() == k && a.Status == Pending && !a.ExpiredAt(at) && (newest == nil || newestFirst(a, newest) < 0) {
			newest = a
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("find pending approval for %s/%s: %w", k.Server, k.Tool, ErrNotFound)
	}
	return newest.Clone(), nil
}

// Expire implements Store.
func (m *Memory) Expire(ctx context.Context, at time.Time) (int, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for id, a := range m.byID {
		if a.Status == Pending && a.ExpiredAt(at) {
			c := a.Clone()
			c.Status = Expired
			m.byID[id] = c
			n++
		}
	}
	return n, nil
}

// Close implements Store. It drops the approvals.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed, m.byID = true, nil
	return nil
}
