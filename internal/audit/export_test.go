package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// MemoryTamper changes a Memory's records behind its back, for the
// contract suite.
type MemoryTamper struct{ M *Memory }

func (t MemoryTamper) find(seq int64) (int, error) {
	i := slices.IndexFunc(t.M.recs, func(r *Record) bool { return r.Seq == seq })
	if i < 0 {
		return 0, fmt.Errorf("no record %d", seq)
	}
	return i, nil
}

// Set sets a field of record seq, named as the SQL stores' column.
func (t MemoryTamper) Set(_ context.Context, seq int64, column string, value any) error {
	t.M.mu.Lock()
	defer t.M.mu.Unlock()
	i, err := t.find(seq)
	if err != nil {
		return err
	}
	r := t.M.recs[i]
	s, _ := value.(string)
	switch column {
	case "message":
		r.Message = s
	case "tool":
		r.Tool = s
	case "decision":
		r.Decision = s
	case "prev":
		r.Prev = s
	case "hash":
		r.Hash = s
	case "counters":
		var c []CounterUse
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			return fmt.Errorf("counters %q: %w", s, errors.ErrUnsupported)
		}
		r.Counters = c
	default:
		return fmt.Errorf("column %s: %w", column, errors.ErrUnsupported)
	}
	return nil
}

// Renumber changes a record's Seq.
func (t MemoryTamper) Renumber(_ context.Context, from, to int64) error {
	t.M.mu.Lock()
	defer t.M.mu.Unlock()
	i, err := t.find(from)
	if err != nil {
		return err
	}
	t.M.recs[i].Seq = to
	slices.SortFunc(t.M.recs, func(a, b *Record) int { return cmp.Compare(a.Seq, b.Seq) })
	return nil
}

// Delete deletes a record.
func (t MemoryTamper) Delete(_ context.Context, seq int64) error {
	t.M.mu.Lock()
	defer t.M.mu.Unlock()
	i, err := t.find(seq)
	if err != nil {
		return err
	}
	t.M.recs = slices.Delete(t.M.recs, i, i+1)
	return nil
}

// SecretKey is secretKey, for tests.
var SecretKey = secretKey
