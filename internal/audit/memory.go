package audit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is a Store in memory, for tests: its records go when the process
// does. It is safe for concurrent use. Make one with NewMemory; the zero
// Memory is not usable.
type Memory struct {
	mu         sync.Mutex
	recs       []*Record // guarded by mu; sealed copies, in Seq order
	headSeq    int64     // guarded by mu
	headHash   string    // guarded by mu
	anchorSeq  int64     // guarded by mu
	anchorHash string    // guarded by mu
	closed     bool      // guarded by mu
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{} }

func (m *Memory) lock(what string) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("%s: %w", what, ErrClosed)
	}
	return nil
}

// Append implements Store. It keeps copies of recs.
func (m *Memory) Append(ctx context.Context, recs []*Record) error {
	if err := m.lock("append audit records"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append audit records: %w", err)
	}
	for _, r := range recs {
		m.headSeq++
		r.Seal(m.headSeq, m.headHash)
		m.headHash = r.Hash
		m.recs = append(m.recs, r.clone())
	}
	return nil
}

// clone returns a deep copy of r.
func (r *Record) clone() *Record {
	c := *r
	c.Counters = slices.Clone(r.Counters)
	c.ArgKeys = slices.Clone(r.ArgKeys)
	c.Args = slices.Clone(r.Args)
	if r.Approval != nil {
		a := *r.Approval
		c.Approval = &a
	}
	return &c
}

// match reports whether f selects r, but for Limit.
func (f *Filter) match(r *Record) bool {
	return (f.Since.IsZero() || !r.Time.Before(f.Since)) &&
		(f.Until.IsZero() || r.Time.Before(f.Until)) &&
		(f.Grant == "" || r.GrantID == f.Grant || r.GrantLabel == f.Grant) &&
		(f.Server == "" || r.Server == f.Server) &&
		(f.Tool == "" || r.Tool == f.Tool) &&
		(f.Decision == "" || r.Decision == f.Decision) &&
		(f.AfterSeq <= 0 || r.Seq > f.AfterSeq) &&
		(f.BeforeSeq <= 0 || r.Seq < f.BeforeSeq)
}

// Query implements Store. It returns copies.
func (m *Memory) Query(ctx context.Context, f Filter) ([]*Record, error) {
	if err := m.lock("query audit records"); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	f.Since, f.Until = micro(f.Since), micro(f.Until) // as the SQL stores compare
	var out []*Record
	add := func(r *Record) bool {
		if f.match(r) {
			out = append(out, r.clone())
		}
		return f.Limit <= 0 || len(out) < f.Limit
	}
	if f.Desc {
		for _, r := range slices.Backward(m.recs) {
			if !add(r) {
				break
			}
		}
	} else {
		for _, r := range m.recs {
			if !add(r) {
				break
			}
		}
	}
	return out, nil
}

// Verify implements Store.
func (m *Memory) Verify(ctx context.Context) (*VerifyReport, error) {
	if err := m.lock("verify audit records"); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	v := NewVerifier(m.anchorSeq, m.anchorHash)
	for _, r := range m.recs {
		v.Add(r.clone(), nil)
	}
	return v.Report(m.headSeq, m.headHash), nil
}

// Prune implements Store. Like the other stores, it refuses to delete
// damaged records.
func (m *Memory) Prune(ctx context.Context, before time.Time) (int64, error) {
	if err := m.lock("prune audit records"); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	s := NewStretch(m.anchorSeq, m.anchorHash, before)
	n := 0
	for _, r := range m.recs {
		if !s.Add(r, nil) {
			break
		}
		n++
	}
	seq, hash, err := s.End()
	if err != nil {
		return 0, fmt.Errorf("prune audit records: %w", err)
	}
	m.recs = slices.Delete(m.recs, 0, n)
	m.anchorSeq, m.anchorHash = seq, hash
	return int64(n), nil
}

// Close implements Store. It drops the records.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed, m.recs = true, nil
	return nil
}
