package approval_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/approval/approvaltest"
)

// handle is one store on a shared Memory, as a process is one store on a
// shared database: closing it leaves the data to the others.
type handle struct {
	m      *approval.Memory
	closed atomic.Bool
}

func (h *handle) open() error {
	if h.closed.Load() {
		return approval.ErrClosed
	}
	return nil
}

func (h *handle) Create(ctx context.Context, a *approval.Approval) error {
	if err := h.open(); err != nil {
		return err
	}
	return h.m.Create(ctx, a)
}

func (h *handle) Get(ctx context.Context, id string) (*approval.Approval, error) {
	if err := h.open(); err != nil {
		return nil, err
	}
	return h.m.Get(ctx, id)
}

func (h *handle) List(ctx context.Context, f approval.Filter) ([]*approval.Approval, error) {
	if err := h.open(); err != nil {
		return nil, err
	}
	return h.m.List(ctx, f)
}

func (h *handle) Decide(ctx context.Context, id string, d approval.Decision) (*approval.Approval, error) {
	if err := h.open(); err != nil {
		return nil, err
	}
	return h.m.Decide(ctx, id, d)
}

func (h *handle) Consume(ctx context.Context, k approval.Key, at time.Time) (*approval.Approval, error) {
	if err := h.open(); err != nil {
		return nil, err
	}
	return h.m.Consume(ctx, k, at)
}

func (h *handle) FindPending(ctx context.Context, k approval.Key, at time.Time) (*approval.Approval, error) {
	if err := h.open(); err != nil {
		return nil, err
	}
	return h.m.FindPending(ctx, k, at)
}

func (h *handle) Expire(ctx context.Context, at time.Time) (int, error) {
	if err := h.open(); err != nil {
		return 0, err
	}
	return h.m.Expire(ctx, at)
}

func (h *handle) Close() error {
	h.closed.Store(true)
	return nil
}

func TestMemoryContract(t *testing.T) {
	approvaltest.Run(t, func(t *testing.T) approvaltest.Opener {
		m := approval.NewMemory()
		t.Cleanup(func() { m.Close() })
		return func(t *testing.T) approval.Store { return &handle{m: m} }
	})
}

// TestMemoryClose checks that closing a Memory itself refuses what follows.
func TestMemoryClose(t *testing.T) {
	m := approval.NewMemory()
	a := approval.New(approval.Key{Server: "okta", Tool: "t", Digest: "d"}, t0, t0.Add(time.Hour))
	if err := m.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if _, err := m.Get(context.Background(), a.ID); err != approval.ErrClosed {
		t.Errorf("Get after Close = %v; want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
}
