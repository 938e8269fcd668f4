package audit_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/audit/audittest"
)

func TestMemoryContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audittest.DB {
		m := audit.NewMemory()
		t.Cleanup(func() { m.Close() })
		return audittest.DB{
			Open:   func(t *testing.T) audit.Store { return &handle{m: m} },
			Tamper: audit.MemoryTamper{M: m},
		}
	})
}

// handle is the Memory opened by one of several processes, as the suite
// opens a database several times: closing it closes only the handle.
type handle struct {
	m      *audit.Memory
	closed atomic.Bool
}

func (h *handle) check() error {
	if h.closed.Load() {
		return fmt.Errorf("memory handle: %w", audit.ErrClosed)
	}
	return nil
}

func (h *handle) Append(ctx context.Context, recs []*audit.Record) error {
	if err := h.check(); err != nil {
		return err
	}
	return h.m.Append(ctx, recs)
}

func (h *handle) Query(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	return h.m.Query(ctx, f)
}

func (h *handle) Verify(ctx context.Context) (*audit.VerifyReport, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	return h.m.Verify(ctx)
}

func (h *handle) Prune(ctx context.Context, before time.Time) (int64, error) {
	if err := h.check(); err != nil {
		return 0, err
	}
	return h.m.Prune(ctx, before)
}

func (h *handle) Close() error {
	h.closed.Store(true)
	return nil
}
