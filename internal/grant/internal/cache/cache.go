// Package cache is the in-memory index of grants by token hash that the
// stores serve Lookup from. Readers never lock; the store refreshes the
// index from its database with the rows changed since the last refresh.
package cache

import (
	"sync/atomic"

	"github.com/toolgate/toolgate/internal/grant"
)

// Row is a grant as read from a database, with the hash of its token and
// the sequence number of the write transaction that last changed it.
type Row struct {
	Hash  [32]byte
	Grant grant.Grant
	Seq   int64
}

// Index maps token hashes to grants. Get is safe for concurrent use with
// everything; Apply calls must not overlap. The zero Index is empty, with
// Seq 0.
type Index struct {
	t atomic.Pointer[table]
}

// table is immutable once published, except for the grants its entries
// point to, which are replaced whole.
type table struct {
	byHash map[[32]byte]*atomic.Pointer[grant.Grant]
	seq    int64
}

// Get returns a copy of the grant with the hash given.
func (x *Index) Get(hash [32]byte) (*grant.Grant, bool) {
	t := x.t.Load()
	if t == nil {
		return nil, false
	}
	e := t.byHash[hash]
	if e == nil {
		return nil, false
	}
	g := *e.Load()
	return &g, true
}

// Seq returns the highest sequence number applied: the index holds every
// change up to it.
func (x *Index) Seq() int64 {
	if t := x.t.Load(); t != nil {
		return t.seq
	}
	return 0
}

// Len returns the number of grants in the index.
func (x *Index) Len() int {
	if t := x.t.Load(); t != nil {
		return len(t.byHash)
	}
	return 0
}

// Apply stores rows, the changes read from the database in one snapshot
// after Seq, and raises Seq to the highest of theirs. A change to a known
// grant replaces it in place; new grants cost a copy of the map, which only
// Create causes.
func (x *Index) Apply(rows []Row) {
	old := x.t.Load()
	if old == nil {
		old = &table{}
	}
	t := &table{byHash: old.byHash, seq: old.seq}
	copied := false
	for i := range rows {
		r := &rows[i]
		g := r.Grant
		if e := t.byHash[r.Hash]; e != nil {
			e.Store(&g)
		} else {
			if !copied {
				m := make(map[[32]byte]*atomic.Pointer[grant.Grant], len(old.byHash)+len(rows))
				for h, e := range old.byHash {
					m[h] = e
				}
				t.byHash, copied = m, true
			}
			e := new(atomic.Pointer[grant.Grant])
			e.Store(&g)
			t.byHash[r.Hash] = e
		}
		t.seq = max(t.seq, r.Seq)
	}
	x.t.Store(t)
}
