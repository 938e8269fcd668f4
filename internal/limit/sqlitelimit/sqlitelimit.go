// Package sqlitelimit is the embedded limit.Store: the budgets of one
// gateway process, kept in an SQLite database (modernc.org/sqlite, pure Go)
// in its state directory so that they survive restarts and crashes.
//
// Decisions are served from a limit.Memory mirror, loaded from the database
// at Open and written through on every admission: a Take that admits logs
// its entries in the mirror, then waits until one goroutine, the store's
// writer, has inserted them into the database, and only then returns OK. The
// writer inserts whatever Takes are waiting in one transaction (group
// commit), so concurrent Takes share the cost of a write. If the write
// fails, the entries leave the mirror and Take returns the error: a Take
// that returns OK is in the database, and one that fails spends nothing.
// Denied Takes touch only the mirror.
//
// # Durability
//
// The database runs in WAL mode with synchronous=NORMAL by default: a commit
// is written to the WAL file before Take returns, so it survives the death
// of the process (a SIGKILL, a panic, the OOM killer), which is what keeps a
// restarted gateway within its budgets. It is not synced to the disk at each
// commit, so a power loss or an OS crash may forget the last admissions
// (never corrupting the database); Options.Sync closes that gap at the cost
// of an fsync per write, which concurrent Takes share.
//
// # Ownership
//
// One process owns a state directory. The database is opened in SQLite's
// exclusive locking mode, so a second Open of the same directory, from this
// process or another, fails with ErrInUse until the first store is closed or
// its process dies; the operating system releases the lock then.
//
// # Memory
//
// The mirror is bounded as limit.Memory's is. Rows whose window has passed
// are deleted by the writer at most once a minute by the Takes' clock, so
// the database holds the live rows plus at most about a minute's worth of
// expired ones.
package sqlitelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/toolgate/toolgate/internal/limit"
)

// File is the name of the database in the state directory.
const File = "limits.db"

// ErrInUse is returned, wrapped, by Open when another store has the
// directory's database open.
var ErrInUse = errors.New("in use by another store (is another toolgate running on this state directory?)")

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// Sync makes every admission durable against power loss and OS
	// crashes too (synchronous=FULL), at the cost of an fsync per write.
	Sync bool
}

// Store is the SQLite-backed limit.Store. It is safe for concurrent use. Make
// one with Open; the zero Store is not usable.
type Store struct {
	mem       *limit.Memory
	db        *sql.DB
	nextPrune atomic.Int64  // UnixNano after which a Take asks for a prune
	pruneTo   atomic.Int64  // UnixNano of a prune asked for, or 0
	wake      chan struct{} // tells the writer there is work; buffered
	exited    chan struct{} // closed when the writer has returned
	closeOnce sync.Once
	closeErr  error

	// The writer's own, once Open has returned.
	conn    *sql.Conn   // the one connection, which holds the lock
	inserts []*sql.Stmt // inserts[n-1] inserts n rows

	mu      sync.Mutex
	queued  *batch // guarded by mu; what the writer writes next
	closing bool   // guarded by mu
}

// batch is the admissions of the Takes waiting for one write.
type batch struct {
	rows []limit.Admission
	done chan struct{} // closed when err is set
	err  error
}

var _ limit.Store = (*Store)(nil)

const (
	schemaVersion = 1
	pruneEvery    = time.Minute
	maxStmtRows   = 8 // rows per INSERT statement
)

// Open opens, creating it if needed, the store in directory dir, which it
// creates too if needed, and loads the budgets logged there. It fails with
// ErrInUse when another store has the directory open, and with the
// database's error when it cannot be read or written.
func Open(ctx context.Context, dir string, opts *Options) (_ *Store, err error) {
	if opts == nil {
		opts = &Options{}
	}
	path := filepath.Join(dir, File)
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open limit store %s: the path contains '?'", path)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open limit store: %w", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, fmt.Errorf("open limit store %s: %w", path, err)
	}
	// One connection for the store's life: it holds the exclusive lock,
	// and SQLite serializes writes anyway.
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	defer func() {
		if err != nil {
			s.closeDB()
			err = fmt.Errorf("open limit store %s: %w", path, inUse(err))
		}
	}()
	if s.conn, err = db.Conn(ctx); err != nil {
		return nil, err
	}
	syncMode := "NORMAL"
	if opts.Sync {
		syncMode = "FULL"
	}
	// The locking mode comes first: set before the WAL is first used, it
	// also keeps the WAL index in the process's memory, out of other
	// processes' reach.
	for _, q := range []string{
		"PRAGMA locking_mode = EXCLUSIVE",
		"PRAGMA busy_timeout = 0",
		"PRAGMA journal_mode = WAL",
		"PRAGMA synchronous = " + syncMode,
	} {
		if _, err := s.conn.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	s.mem = limit.NewMemory(&limit.MemoryOptions{Commit: s.commit})
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	s.wake, s.exited = make(chan struct{}, 1), make(chan struct{})
	go s.write()
	return s, nil
}

// migrate creates the schema, or checks it, in a write transaction: the
// write takes the exclusive lock, which the connection then keeps.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	switch {
	case v > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this toolgate's (%d)", v, schemaVersion)
	case v == 0:
		for _, q := range []string{
			`CREATE TABLE admissions (
				key       TEXT    NOT NULL,
				at_ns     INTEGER NOT NULL, -- Unix nanoseconds
				cost      INTEGER NOT NULL,
				window_ns INTEGER NOT NULL,
				max_cost  INTEGER NOT NULL,
				until_ns  INTEGER NOT NULL  -- at_ns + window_ns: when the row stops counting
			) STRICT`,
			`CREATE INDEX admissions_until ON admissions (until_ns)`,
			`CREATE TABLE owner (pid INTEGER NOT NULL) STRICT`,
			fmt.Sprintf("PRAGMA user_version = %d", schemaVersion),
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
	}
	// Writing the owner's pid takes the lock even when there is nothing to
	// create, and tells whoever opens the file by hand who held it last.
	if _, err := tx.ExecContext(ctx, "DELETE FROM owner"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO owner (pid) VALUES (?)", os.Getpid()); err != nil {
		return err
	}
	return tx.Commit()
}

// load fills the mirror with the logged admissions, oldest first.
func (s *Store) load(ctx context.Context) error {
	rows, err := s.conn.QueryContext(ctx, "SELECT key, at_ns, cost, window_ns, max_cost FROM admissions ORDER BY at_ns")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a limit.Admission
		var at, window int64
		if err := rows.Scan(&a.Key, &at, &a.Cost, &window, &a.Max); err != nil {
			return err
		}
		a.At, a.Window = time.Unix(0, at), time.Duration(window)
		if err := s.mem.Restore(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Take implements limit.Store. An admitting Take returns once its entries
// are in the database. Its errors are limit.ErrInvalid, limit.ErrClosed and
// the database's.
func (s *Store) Take(ctx context.Context, now time.Time, charges []limit.Charge) (limit.Result, error) {
	r, err := s.mem.Take(ctx, now, charges)
	if err == nil && r.OK {
		s.maybePrune(now.UnixNano())
	}
	return r, err
}

// commit hands the admissions of a Take to the writer and waits for it to
// write them. The write is not abandoned when ctx is done: it is short, and
// the mirror must agree with the database.
func (s *Store) commit(_ context.Context, as []limit.Admission) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return limit.ErrClosed
	}
	b := s.queued
	if b == nil {
		b = &batch{done: make(chan struct{})}
		s.queued = b
	}
	b.rows = append(b.rows, as...)
	s.mu.Unlock()
	s.signal()
	<-b.done
	return b.err
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default: // the writer has a wake-up pending already
	}
}

// write is the writer goroutine: it writes the queued batches and prunes
// until Close, then drains the queue and returns.
func (s *Store) write() {
	defer close(s.exited)
	for range s.wake {
		for {
			s.mu.Lock()
			b, closing := s.queued, s.closing
			s.queued = nil
			s.mu.Unlock()
			if b != nil {
				if err := s.insert(b.rows); err != nil {
					b.err = fmt.Errorf("write %s: %w", File, err)
				}
				close(b.done)
			}
			if t := s.pruneTo.Swap(0); t != 0 {
				// A failure leaves the rows to the next prune: they take
				// space but no longer count.
				s.conn.ExecContext(context.Background(), "DELETE FROM admissions WHERE until_ns <= ?", t)
			}
			if b == nil {
				if closing {
					return
				}
				break
			}
		}
	}
}

// insert writes rows in one transaction.
func (s *Store) insert(rows []limit.Admission) error {
	ctx := context.Background()
	// One statement is a transaction of its own.
	tx := len(rows) > maxStmtRows
	if tx {
		if _, err := s.conn.ExecContext(ctx, "BEGIN"); err != nil {
			return err
		}
	}
	for len(rows) > 0 {
		n := min(len(rows), maxStmtRows)
		st, err := s.stmt(ctx, n)
		if err == nil {
			args := make([]any, 0, 6*n)
			for _, a := range rows[:n] {
				at, w := a.At.UnixNano(), int64(a.Window)
				args = append(args, a.Key, at, a.Cost, w, a.Max, at+w)
			}
			_, err = st.ExecContext(ctx, args...)
		}
		if err != nil {
			if tx {
				s.conn.ExecContext(ctx, "ROLLBACK")
			}
			return err
		}
		rows = rows[n:]
	}
	if tx {
		if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
			s.conn.ExecContext(ctx, "ROLLBACK")
			return err
		}
	}
	return nil
}

// stmt returns the statement inserting n rows, preparing it the first time.
func (s *Store) stmt(ctx context.Context, n int) (*sql.Stmt, error) {
	if s.inserts == nil {
		s.inserts = make([]*sql.Stmt, maxStmtRows)
	}
	if st := s.inserts[n-1]; st != nil {
		return st, nil
	}
	q := "INSERT INTO admissions (key, at_ns, cost, window_ns, max_cost, until_ns) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", n), ", ")
	st, err := s.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.inserts[n-1] = st
	return st, nil
}

// maybePrune asks the writer to delete the rows that have left their window,
// at most once per pruneEvery of the Takes' clock.
func (s *Store) maybePrune(t int64) {
	next := s.nextPrune.Load()
	if t < next && t > next-2*int64(pruneEvery) {
		return
	}
	if s.nextPrune.CompareAndSwap(next, t+int64(pruneEvery)) {
		s.pruneTo.Store(t)
		s.signal()
	}
}

// Usage implements limit.Store; it reads the mirror only.
func (s *Store) Usage(ctx context.Context, now time.Time, prefix string) ([]limit.Usage, error) {
	return s.mem.Usage(ctx, now, prefix)
}

// Close implements limit.Store. It lets the writer finish the writes under
// way, closes the database and releases the directory.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mem.Close()
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.signal()
		<-s.exited
		s.closeErr = s.closeDB()
	})
	return s.closeErr
}

// closeDB closes the statements, the connection and the database. The
// writer is not running.
func (s *Store) closeDB() error {
	var errs []error
	for _, st := range s.inserts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

// inUse returns ErrInUse for an error saying that the database is locked,
// and err otherwise.
func inUse(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return ErrInUse
		}
	}
	return err
}
