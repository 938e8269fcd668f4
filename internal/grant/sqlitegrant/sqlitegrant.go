// Package sqlitegrant is the embedded grant.Store: the grants of one
// gateway, kept in an SQLite database (modernc.org/sqlite, pure Go, WAL
// mode) in its state directory.
//
// The gateway process owns the state directory, but the CLI ("toolgate
// grant create" while the gateway runs) opens the same database from
// another process, so the store does not lock it: any number of stores, in
// any number of processes on the machine, may have it open at once.
// Writes wait for each other (up to Options.BusyTimeout); reads never wait
// for writes.
//
// # Lookup
//
// Lookup is served from an in-memory index of every grant by token hash. A
// Lookup first makes sure the index reflects every transaction committed
// before the Lookup started, from this store or any other connection, so a
// Revoke that returned before a request arrived refuses that request:
//
//   - Fast path: in WAL mode, SQLite publishes every commit in the header of
//     the WAL index, the database's "-shm" file, which every connection maps
//     in shared memory and which readers compare to see whether the database
//     changed (https://sqlite.org/walformat.html). The store maps that
//     header read-only too, and a Lookup compares it with a copy taken
//     before the index was last refreshed: if it is unchanged, nothing has
//     been committed since, and the index is current. This costs a few
//     memory loads, no system call and no lock.
//   - Slow path: when the header changed (or where it cannot be mapped), the
//     Lookup copies the header, then reads the rows changed since the last
//     refresh (each write transaction stamps the rows it changes with a
//     sequence number one above the table's highest) and applies them,
//     before publishing that copy of the header. Concurrent Lookups share
//     refreshes: one that arrives while a refresh is running waits for the
//     next one to start and finish, never for an earlier one, whose view
//     might predate its arrival.
//
// The fast path relies on SQLite's guarantees for WAL mode: the WAL-index
// header changes at every commit; its layout is versioned (the store checks
// the version and falls back to the slow path if it is not the one it
// knows) and shared by every SQLite library, of any version, using the
// database; and the file is never removed or reset while a connection is
// open, which the store keeps for its life. A database that leaves WAL
// mode cannot happen while the store has it open.
//
// # Durability
//
// WAL with synchronous=NORMAL: a write is in the WAL file when it returns,
// so it survives a crash of the process, not necessarily a power loss (it
// is then lost whole, never half-applied). Touch times are written in the
// background, at most every Options.TouchEvery, and at Close.
package sqlitegrant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/toolgate/toolgate/internal/grant"
	"github.com/toolgate/toolgate/internal/grant/internal/cache"
	"github.com/toolgate/toolgate/internal/grant/internal/lastused"
	"github.com/toolgate/toolgate/internal/sqlitedb"
)

// File is the name of the database in the state directory.
const File = "grants.db"

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// TouchEvery is the longest a Touch waits to be written, and the
	// shortest time between two writes of Touch times; zero means 5s.
	TouchEvery time.Duration
	// BusyTimeout is how long a write waits for another connection's
	// write to finish before it fails; zero means 5s.
	BusyTimeout time.Duration
	// Logf logs failures of background writes; nil means log.Printf.
	Logf func(format string, args ...any)

	// noWALIndex turns the Lookup fast path off, for tests.
	noWALIndex bool
}

// Store is the SQLite-backed grant.Store. It is safe for concurrent use.
// Make one with Open; the zero Store is not usable.
type Store struct {
	db     *sql.DB
	path   string
	index  cache.Index
	touch  *lastused.Batch
	closed atomic.Bool

	// wal is the mapped WAL-index header, or nil when Lookups always
	// refresh; synced is its copy taken before the last refresh, published
	// once that refresh was applied.
	wal    *walIndex
	synced atomic.Pointer[walHeader]

	refreshes atomic.Uint64 // refreshes started

	mu    sync.Mutex
	conn  *sql.Conn // guarded by mu; reads the changes; nil once closed
	since *sql.Stmt // guarded by mu; the rows changed after a seq
	done  uint64    // guarded by mu; the number of the last refresh applied
}

var _ grant.Store = (*Store)(nil)

const (
	schemaVersion = 1
	columns       = "hash, id, label, server, policy, created_us, expires_us, revoked_us, last_used_us, seq"
)

// Open opens, creating it if needed, the store in directory dir, which it
// creates too if needed, and loads the grants. It fails when the database
// cannot be read or written, or was made by a newer toolgate.
func Open(ctx context.Context, dir string, opts *Options) (_ *Store, err error) {
	if opts == nil {
		opts = &Options{}
	}
	touchEvery := cmpOr(opts.TouchEvery, 5*time.Second)
	db, path, err := sqlitedb.Open(ctx, dir, File, sqlitedb.Options{
		Store:       "grant store",
		BusyTimeout: opts.BusyTimeout,
		Version:     schemaVersion,
		Schema:      schema,
	})
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path}
	defer func() {
		if err != nil {
			s.closeDB()
			err = fmt.Errorf("open grant store %s: %w", path, err)
		}
	}()
	// One connection reads the changes for the store's life, which also
	// keeps the WAL index in place for the mapping below.
	if s.conn, err = db.Conn(ctx); err != nil {
		return nil, err
	}
	if s.since, err = s.conn.PrepareContext(ctx, "SELECT "+columns+" FROM grants WHERE seq > ?"); err != nil {
		return nil, err
	}
	if !opts.noWALIndex {
		// Without the mapping, Lookups are correct, only slower.
		if s.wal, err = mapWALIndex(path + "-shm"); err != nil {
			logf := opts.Logf
			if logf == nil {
				logf = log.Printf
			}
			logf("grant store %s: every lookup reads the database: %v", path, err)
			err = nil
		}
	}
	if err := s.sync(ctx); err != nil {
		return nil, err
	}
	s.touch = lastused.Start(touchEvery, s.writeUses, opts.Logf)
	return s, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// schema creates version schemaVersion of the database.
var schema = []string{
	`CREATE TABLE grants (
		hash         BLOB    NOT NULL UNIQUE, -- SHA-256 of the token
		id           TEXT    NOT NULL PRIMARY KEY,
		label        TEXT    NOT NULL,
		server       TEXT    NOT NULL,
		policy       TEXT    NOT NULL,
		created_us   INTEGER NOT NULL, -- Unix microseconds, UTC
		expires_us   INTEGER NOT NULL, -- 0: never
		revoked_us   INTEGER NOT NULL, -- 0: live
		last_used_us INTEGER NOT NULL, -- 0: never
		seq          INTEGER NOT NULL  -- the write transaction that last changed the row
	) STRICT`,
	`CREATE UNIQUE INDEX grants_live_label ON grants (label) WHERE revoked_us = 0`,
	`CREATE INDEX grants_seq ON grants (seq)`,
	// So that a change made by hand (say, a revocation with the sqlite3
	// shell) reaches the gateways too, and a grant is not deleted from
	// the database while they still hold it.
	`CREATE TRIGGER grants_stamp AFTER UPDATE ON grants WHEN NEW.seq = OLD.seq BEGIN
		UPDATE grants SET seq = (SELECT max(seq) FROM grants) + 1 WHERE id = NEW.id;
	END`,
	`CREATE TRIGGER grants_keep BEFORE DELETE ON grants BEGIN
		SELECT RAISE(ABORT, 'grants are revoked, not deleted');
	END`,
}

// Lookup implements grant.Store. It reads the database only when it
// changed since the last Lookup (see the package documentation); its
// errors are ErrNotFound, ErrClosed and the database's.
func (s *Store) Lookup(ctx context.Context, hash [32]byte) (*grant.Grant, error) {
	if err := s.sync(ctx); err != nil {
		return nil, err
	}
	if g, ok := s.index.Get(hash); ok {
		return g, nil
	}
	return nil, grant.ErrNotFound
}

// sync makes the index reflect every transaction committed before it was
// called.
func (s *Store) sync(ctx context.Context) error {
	if s.closed.Load() {
		return grant.ErrClosed
	}
	if s.wal != nil {
		if h := s.synced.Load(); h != nil && s.wal.read() == *h {
			return nil
		}
	}
	// A refresh numbered above arrived started after this call did, so its
	// read saw everything committed before this call.
	arrived := s.refreshes.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return grant.ErrClosed
	}
	if s.done > arrived {
		return nil
	}
	n := s.refreshes.Add(1)
	var h walHeader
	if s.wal != nil {
		h = s.wal.read() // before the read, so that later commits change it
	}
	if err := s.refresh(ctx); err != nil {
		return fmt.Errorf("read %s: %w", File, err)
	}
	s.done = n
	if s.wal != nil {
		s.synced.Store(&h)
	}
	return nil
}

// refresh applies the rows changed since the index's seq. The caller holds
// s.mu.
func (s *Store) refresh(ctx context.Context) error {
	rows, err := s.since.QueryContext(ctx, s.index.Seq())
	if err != nil {
		return err
	}
	defer rows.Close()
	var changed []cache.Row
	for rows.Next() {
		var r cache.Row
		g, err := scan(rows, r.Hash[:])
		if err != nil {
			return err
		}
		r.Grant, r.Seq = g.Grant, g.seq
		changed = append(changed, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(changed) > 0 {
		s.index.Apply(changed)
	}
	return nil
}

type row struct {
	grant.Grant
	seq int64
}

// scan reads a row of columns, copying the hash to hash when it is not
// nil.
func scan(rows *sql.Rows, hash []byte) (*row, error) {
	var (
		r                                  row
		h                                  []byte
		created, expires, revoked, lastUse int64
	)
	if err := rows.Scan(&h, &r.ID, &r.Label, &r.Server, &r.Policy, &created, &expires, &revoked, &lastUse, &r.seq); err != nil {
		return nil, err
	}
	if len(h) != 32 {
		return nil, fmt.Errorf("grant %s has a %d-byte hash", r.ID, len(h))
	}
	copy(hash, h)
	r.Created, r.Expires, r.Revoked, r.LastUsed = fromUS(created), fromUS(expires), fromUS(revoked), fromUS(lastUse)
	return &r, nil
}

// us returns t in Unix microseconds, and 0 for the zero Time.
func us(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromUS(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// write runs f in a write transaction, passing it the sequence number to
// stamp the rows it changes with. Write transactions are serialized by
// SQLite (they begin IMMEDIATE), so sequence numbers follow commit order.
func (s *Store) write(ctx context.Context, f func(tx *sql.Tx, seq int64) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var seq int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) + 1 FROM grants").Scan(&seq); err != nil {
		return err
	}
	if err := f(tx, seq); err != nil {
		return err
	}
	return tx.Commit()
}

// Create implements grant.Store. Its errors are ErrInvalid, ErrExists,
// ErrClosed and the database's.
func (s *Store) Create(ctx context.Context, g *grant.Grant, hash [32]byte) error {
	if s.closed.Load() {
		return grant.ErrClosed
	}
	if err := g.Check(); err != nil {
		return err
	}
	if hash == [32]byte{} {
		return fmt.Errorf("%w %s: zero hash", grant.ErrInvalid, g.ID)
	}
	err := s.write(ctx, func(tx *sql.Tx, seq int64) error {
		var live int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM grants WHERE label = ? AND revoked_us = 0", g.Label).Scan(&live); err != nil {
			return err
		}
		if live > 0 {
			return fmt.Errorf("%w: a live grant is labelled %q", grant.ErrExists, g.Label)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO grants ("+columns+") VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
			hash[:], g.ID, g.Label, g.Server, g.Policy, us(g.Created), us(g.Expires), us(g.LastUsed), seq)
		if isConstraint(err) {
			return fmt.Errorf("%w: %w", grant.ErrExists, err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create grant %s (%s): %w", g.ID, g.Label, err)
	}
	return nil
}

func isConstraint(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// Revoke implements grant.Store. Its errors are ErrNotFound, ErrRevoked
// (with the grant), ErrInvalid, ErrClosed and the database's.
func (s *Store) Revoke(ctx context.Context, idOrLabel string, at time.Time) (*grant.Grant, error) {
	if s.closed.Load() {
		return nil, grant.ErrClosed
	}
	if us(at) <= 0 {
		return nil, fmt.Errorf("revoke grant %s: %w: time %v is not after 1970", idOrLabel, grant.ErrInvalid, at)
	}
	var g *grant.Grant
	err := s.write(ctx, func(tx *sql.Tx, seq int64) error {
		q := "SELECT " + columns + " FROM grants WHERE label = ? AND revoked_us = 0"
		if grant.IsID(idOrLabel) {
			q = "SELECT " + columns + " FROM grants WHERE id = ?"
		}
		rows, err := tx.QueryContext(ctx, q, idOrLabel)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return grant.ErrNotFound
		}
		r, err := scan(rows, nil)
		if err != nil {
			return err
		}
		rows.Close()
		g = &r.Grant
		if !g.Revoked.IsZero() {
			return grant.ErrRevoked
		}
		g.Revoked = time.UnixMicro(at.UnixMicro()).UTC()
		_, err = tx.ExecContext(ctx, "UPDATE grants SET revoked_us = ?, seq = ? WHERE id = ?", us(g.Revoked), seq, g.ID)
		return err
	})
	switch {
	case errors.Is(err, grant.ErrRevoked):
		return g, fmt.Errorf("revoke grant %s: %w", idOrLabel, err)
	case err != nil:
		return nil, fmt.Errorf("revoke grant %s: %w", idOrLabel, err)
	}
	return g, nil
}

// List implements grant.Store. It reads the database, and shows the Touch
// times of this store not yet written. Its errors are ErrClosed and the
// database's.
func (s *Store) List(ctx context.Context) ([]*grant.Grant, error) {
	if s.closed.Load() {
		return nil, grant.ErrClosed
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+columns+" FROM grants ORDER BY created_us DESC, id DESC")
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	defer rows.Close()
	var gs []*grant.Grant
	for rows.Next() {
		r, err := scan(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		gs = append(gs, &r.Grant)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	s.touch.Merge(gs)
	return gs, nil
}

// Touch implements grant.Store. It only updates a map in memory.
func (s *Store) Touch(ctx context.Context, id string, at time.Time) error {
	return s.touch.Touch(id, at)
}

// writeUses stores the latest uses in one transaction.
func (s *Store) writeUses(ctx context.Context, uses map[string]time.Time) error {
	return s.write(ctx, func(tx *sql.Tx, seq int64) error {
		st, err := tx.PrepareContext(ctx, "UPDATE grants SET last_used_us = ?, seq = ? WHERE id = ? AND last_used_us < ?")
		if err != nil {
			return err
		}
		defer st.Close()
		for id, at := range uses {
			t := us(at)
			if _, err := st.ExecContext(ctx, t, seq, id, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close implements grant.Store. It writes the pending Touch times, then
// closes the database.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return errors.Join(s.touch.Close(), s.closeDB())
}

func (s *Store) closeDB() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.since != nil {
		errs = append(errs, s.since.Close())
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
		s.conn = nil
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}
