package pgapproval_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/approval/approvaltest"
	"github.com/toolgate/toolgate/internal/approval/pgapproval"
	"github.com/toolgate/toolgate/internal/pgtest"
)

// open opens a store on its own pool, as another replica would; the pool
// is closed when the test ends, after the store.
func open(t testing.TB, url, schema string) *pgapproval.Store {
	t.Helper()
	p := pgtest.Pool(t, url)
	t.Cleanup(p.Close)
	s, err := pgapproval.Open(context.Background(), p, &pgapproval.Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	approvaltest.Run(t, func(t *testing.T) approvaltest.Opener {
		url, schema := pgtest.Schema(t, "approval")
		return func(t *testing.T) approval.Store { return open(t, url, schema) }
	})
}

// TestSchemas checks that stores in different schemas of one database do
// not share approvals, and that a bad schema name is refused.
func TestSchemas(t *testing.T) {
	ctx := context.Background()
	url, one := pgtest.Schema(t, "approval")
	_, two := pgtest.Schema(t, "approval")
	a, b := open(t, url, one), open(t, url, two)
	x := approval.New(approval.Key{Server: "okta", Tool: "t", Digest: "d"}, t0, t0.Add(time.Hour))
	if err := a.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, x.ID); err == nil {
		t.Errorf("Get in another schema found %s", x.ID)
	}
	p := pgtest.Pool(t, url)
	defer p.Close()
	if _, err := pgapproval.Open(ctx, p, &pgapproval.Options{Schema: `x"; DROP TABLE y; --`}); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("Open with a bad schema name = %v; want refused", err)
	}
}

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
