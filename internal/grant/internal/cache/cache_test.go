package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/grant"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func row(i int, seq int64, label string) Row {
	var r Row
	r.Hash[0], r.Hash[1] = byte(i), byte(i>>8)
	r.Grant = grant.Grant{ID: fmt.Sprintf("grt_%016d", i), Label: label, Server: "okta", Created: t0}
	r.Seq = seq
	return r
}

func TestApply(t *testing.T) {
	var x Index
	if _, ok := x.Get([32]byte{}); ok || x.Seq() != 0 || x.Len() != 0 {
		t.Fatalf("zero Index: Get ok = %v, Seq = %d, Len = %d; want false, 0, 0", ok, x.Seq(), x.Len())
	}
	x.Apply([]Row{row(1, 1, "a"), row(2, 2, "b")})
	old := x.t.Load()
	// A change to a known grant is made in place; the map is kept.
	changed := row(1, 3, "a")
	changed.Grant.Revoked = t0
	x.Apply([]Row{changed})
	if x.t.Load().byHash == nil || len(x.t.Load().byHash) != 2 || x.Seq() != 3 {
		t.Fatalf("after a change: Len = %d, Seq = %d; want 2, 3", x.Len(), x.Seq())
	}
	if g, _ := x.Get(changed.Hash); !g.Revoked.Equal(t0) {
		t.Fatalf("Get after a change = %+v; want revoked", g)
	}
	if g := old.byHash[changed.Hash].Load(); !g.Revoked.Equal(t0) {
		t.Fatalf("the earlier table does not see the change")
	}
	// A new grant copies the map; the earlier table does not see it.
	x.Apply([]Row{row(3, 4, "c"), row(2, 4, "b2")})
	if x.Len() != 3 || x.Seq() != 4 || len(old.byHash) != 2 {
		t.Fatalf("after a new grant: Len = %d, Seq = %d, earlier Len = %d; want 3, 4, 2", x.Len(), x.Seq(), len(old.byHash))
	}
	if g, _ := x.Get(row(2, 0, "").Hash); g.Label != "b2" {
		t.Fatalf("Get(2) = %+v; want label b2", g)
	}
	// Get returns a copy.
	g, _ := x.Get(row(3, 0, "").Hash)
	g.Label = "changed"
	if g, _ := x.Get(row(3, 0, "").Hash); g.Label != "c" {
		t.Fatalf("Get after changing an earlier result = %q; want c", g.Label)
	}
}

func TestConcurrent(t *testing.T) {
	var x Index
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range 100 {
					if g, ok := x.Get(row(i, 0, "").Hash); ok && g.Server != "okta" {
						t.Errorf("Get(%d) = %+v", i, g)
					}
				}
			}
		})
	}
	for i := range 100 {
		x.Apply([]Row{row(i, int64(2*i+1), "new"), row(i/2, int64(2*i+2), "changed")})
	}
	close(stop)
	wg.Wait()
	if x.Len() != 100 || x.Seq() != 200 {
		t.Fatalf("Len = %d, Seq = %d; want 100, 200", x.Len(), x.Seq())
	}
}

func BenchmarkGet(b *testing.B) {
	var x Index
	var rows []Row
	for i := range 256 {
		rows = append(rows, row(i, int64(i+1), "a"))
	}
	x.Apply(rows)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := x.Get(rows[i%256].Hash); !ok {
			b.Fatal("miss")
		}
		i++
	}
}
