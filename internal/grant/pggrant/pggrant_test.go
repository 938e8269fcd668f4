package pggrant_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/grant"
	"github.com/toolgate/toolgate/internal/grant/granttest"
	"github.com/toolgate/toolgate/internal/grant/pggrant"
	"github.com/toolgate/toolgate/internal/pgtest"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// open opens a store on its own pool, as another replica would; the pool
// is closed when the test ends, after the store.
func open(t testing.TB, url string, opts *pggrant.Options) *pggrant.Store {
	t.Helper()
	p := pgtest.Pool(t, url)
	t.Cleanup(p.Close)
	s, err := pggrant.Open(context.Background(), p, opts)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

func options(schema string, o pggrant.Options) *pggrant.Options {
	o.Schema = schema
	return &o
}

func TestContract(t *testing.T) {
	granttest.Run(t, func(t *testing.T) granttest.Opener {
		url, schema := pgtest.Schema(t, "grant")
		return func(t *testing.T) grant.Store { return open(t, url, options(schema, pggrant.Options{})) }
	})
}

// TestContractNoCache runs the contract on stores that read the database
// at every Lookup.
func TestContractNoCache(t *testing.T) {
	granttest.Run(t, func(t *testing.T) granttest.Opener {
		url, schema := pgtest.Schema(t, "grant")
		return func(t *testing.T) grant.Store {
			return open(t, url, options(schema, pggrant.Options{NoCache: true}))
		}
	})
}

// TestContractMixed runs the contract with every other store a NoCache one,
// as when the CLI works next to running gateways.
func TestContractMixed(t *testing.T) {
	granttest.Run(t, func(t *testing.T) granttest.Opener {
		url, schema := pgtest.Schema(t, "grant")
		var mu sync.Mutex
		n := 0
		return func(t *testing.T) grant.Store {
			mu.Lock()
			n++
			noCache := n%2 == 0
			mu.Unlock()
			return open(t, url, options(schema, pggrant.Options{NoCache: noCache}))
		}
	})
}

// TestSilentReplica checks that a replica that stops syncing does not keep
// serving a revoked grant: the Revoke waits for its lease to end, and then
// the replica reads the database.
func TestSilentReplica(t *testing.T) {
	ctx := context.Background()
	url, schema := pgtest.Schema(t, "grant")
	const lease = 600 * time.Millisecond
	a := open(t, url, options(schema, pggrant.Options{Lease: lease}))
	defer a.Close()
	var (
		mu     sync.Mutex
		paused bool
		resume = make(chan struct{})
	)
	b := open(t, url, pggrant.WithBeforeSync(options(schema, pggrant.Options{Lease: lease}), func() {
		mu.Lock()
		p := paused
		mu.Unlock()
		if p {
			<-resume
		}
	}))
	defer b.Close()
	defer close(resume) // before Close, which waits for the listener

	g, token, _ := grant.New("alice", "okta", t0)
	if err := a.Create(ctx, g, grant.Hash(token)); err != nil {
		t.Fatal(err)
	}
	if _, err := grant.Authenticate(ctx, b, token, t0); err != nil {
		t.Fatalf("Authenticate on b = %v", err)
	}
	mu.Lock()
	paused = true
	mu.Unlock()
	start := time.Now()
	if _, err := a.Revoke(ctx, "alice", t0.Add(time.Hour)); err != nil {
		t.Fatalf("Revoke = %v", err)
	}
	waited := time.Since(start)
	if _, err := grant.Authenticate(ctx, b, token, t0); !errors.Is(err, grant.ErrRevoked) {
		t.Fatalf("Authenticate on the silent replica after Revoke = %v; want ErrRevoked", err)
	}
	// b's last sync may have started just before the pause, so the wait is
	// most of a lease, not necessarily all of it.
	if waited < lease/3 {
		t.Errorf("Revoke returned after %v; want it to wait for the silent replica's lease (%v)", waited, lease)
	}
	t.Logf("Revoke waited %v for a silent replica (lease %v)", waited, lease)
}

// TestChangeByHand checks that a revocation made with SQL, not through a
// Store, reaches the replicas, and that grants cannot be deleted.
func TestChangeByHand(t *testing.T) {
	ctx := context.Background()
	url, schema := pgtest.Schema(t, "grant")
	s := open(t, url, options(schema, pggrant.Options{}))
	defer s.Close()
	g, token, _ := grant.New("alice", "okta", t0)
	if err := s.Create(ctx, g, grant.Hash(token)); err != nil {
		t.Fatal(err)
	}
	p := pgtest.Pool(t, url)
	defer p.Close()
	table := `"` + schema + `".toolgate_grants`
	if _, err := p.Exec(ctx, "UPDATE "+table+" SET revoked = $1 WHERE label = 'alice'", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A change by hand is not waited for; a Store's later change is, and
	// the replicas apply changes in order.
	other, otherToken, _ := grant.New("bob", "okta", t0)
	if err := s.Create(ctx, other, grant.Hash(otherToken)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(ctx, grant.Hash(token))
	if err != nil || !got.Revoked.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Lookup after a revocation by hand = %+v, %v; want revoked at t0+1h", got, err)
	}
	if _, err := p.Exec(ctx, "DELETE FROM "+table); err == nil || !strings.Contains(err.Error(), "not deleted") {
		t.Fatalf("DELETE = %v; want refused", err)
	}
}

func BenchmarkStore(b *testing.B) {
	url, schema := pgtest.Schema(b, "grant")
	s := open(b, url, options(schema, pggrant.Options{}))
	defer s.Close()
	granttest.Benchmark(b, s)
}

func BenchmarkStoreNoCache(b *testing.B) {
	url, schema := pgtest.Schema(b, "grant")
	s := open(b, url, options(schema, pggrant.Options{NoCache: true}))
	defer s.Close()
	granttest.Benchmark(b, s)
}
