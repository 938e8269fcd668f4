package sqlitegrant_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/grant"
	"github.com/toolgate/toolgate/internal/grant/granttest"
	"github.com/toolgate/toolgate/internal/grant/sqlitegrant"
)

func open(t testing.TB, dir string, opts *sqlitegrant.Options) *sqlitegrant.Store {
	t.Helper()
	s, err := sqlitegrant.Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	return s
}

func TestContract(t *testing.T) {
	granttest.Run(t, func(t *testing.T) granttest.Opener {
		dir := t.TempDir()
		return func(t *testing.T) grant.Store {
			s := open(t, dir, nil)
			if !s.FastPath() {
				t.Fatal("the store does not map the WAL index")
			}
			return s
		}
	})
}

// TestContractNoWALIndex runs the contract with the Lookup fast path off,
// as on systems where the WAL index is not mapped.
func TestContractNoWALIndex(t *testing.T) {
	granttest.Run(t, func(t *testing.T) granttest.Opener {
		dir := t.TempDir()
		return func(t *testing.T) grant.Store { return open(t, dir, sqlitegrant.NoWALIndex(nil)) }
	})
}

func BenchmarkStore(b *testing.B) {
	s := open(b, b.TempDir(), nil)
	defer s.Close()
	granttest.Benchmark(b, s)
}

func BenchmarkStoreNoWALIndex(b *testing.B) {
	s := open(b, b.TempDir(), sqlitegrant.NoWALIndex(nil))
	defer s.Close()
	granttest.Benchmark(b, s)
}

// TestChangeByHand checks that a revocation made with SQL, not through a
// Store, reaches the store's next Lookup, and that grants cannot be deleted.
func TestChangeByHand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir, nil)
	defer s.Close()
	g, token, _ := grant.New("alice", "okta", t0)
	if err := s.Create(ctx, g, grant.Hash(token)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, grant.Hash(token)); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlitegrant.File))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "UPDATE grants SET revoked_us = ? WHERE label = 'alice'", t0.Add(time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(ctx, grant.Hash(token))
	if err != nil || !got.Revoked.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Lookup after a revocation by hand = %+v, %v; want revoked at t0+1h", got, err)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM grants"); err == nil || !strings.Contains(err.Error(), "not deleted") {
		t.Fatalf("DELETE FROM grants = %v; want refused", err)
	}
}
