// Package sqliteapproval is the embedded approval.Store: the approvals of
// one gateway, kept in an SQLite database (modernc.org/sqlite, pure Go, WAL
// mode) in its state directory, so that pending approvals survive a
// restart.
//
// The CLI ("toolgate approvals approve ID" while the gateway runs) opens
// the same database from another process, so the store does not lock it:
// any number of stores, in any number of processes on the machine, may
// have it open at once. Every read and write goes to the database, so each
// sees what the others committed before it started. Writes are
// transactions that take SQLite's write lock from the start (BEGIN
// IMMEDIATE), so the read that checks an approval's state and the write
// that changes it are one step for every other connection: of racing
// Decides, or Consumes, one wins. Writes wait for each other up to
// Options.BusyTimeout; reads never wait for writes.
//
// WAL with synchronous=NORMAL: a write is in the WAL file when it returns,
// so it survives a crash of the process, not necessarily a power loss (it
// is then lost whole, never half-applied).
package sqliteapproval

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/sqlitedb"
)

// File is the name of the database in the state directory.
const File = "approvals.db"

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// BusyTimeout is how long a write waits for another connection's
	// write to finish before it fails; zero means 5s.
	BusyTimeout time.Duration
}

// Store is the SQLite-backed approval.Store. It is safe for concurrent
// use, also by other processes on the same file. Make one with Open; the
// zero Store is not usable.
type Store struct {
	db     *sql.DB
	path   string
	closed atomic.Bool
}

var _ approval.Store = (*Store)(nil)

const (
	schemaVersion = 1
	columns       = `id, grant_id, grant_label, session, server, tool, rule, policy_reason, preview, digest,
		created_us, expires_us, status, decided_by, decision_reason, decided_us, via, consumed_us`
	selectAll = "SELECT " + columns + " FROM approvals"
)

// Open opens, creating it if needed, the store in directory dir, which it
// creates too if needed. It fails when the database cannot be read or
// written, or was made by a newer toolgate.
func Open(ctx context.Context, dir string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	db, path, err := sqlitedb.Open(ctx, dir, File, sqlitedb.Options{
		Store:       "approval store",
		BusyTimeout: opts.BusyTimeout,
		Version:     schemaVersion,
		Schema:      schema,
	})
	if err != nil {
		return nil, err
	}
	return &Store{db: db, path: path}, nil
}

// schema creates version schemaVersion of the database.
var schema = []string{
	`CREATE TABLE approvals (
		id              TEXT    NOT NULL PRIMARY KEY,
		grant_id        TEXT    NOT NULL,
		grant_label     TEXT    NOT NULL,
		session         TEXT    NOT NULL,
		server          TEXT    NOT NULL,
		tool            TEXT    NOT NULL,
		rule            TEXT    NOT NULL,
		policy_reason   TEXT    NOT NULL,
		preview         TEXT,             -- JSON; NULL: none
		digest          TEXT    NOT NULL,
		created_us      INTEGER NOT NULL, -- Unix microseconds, UTC
		expires_us      INTEGER NOT NULL,
		status          TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
		decided_by      TEXT    NOT NULL,
		decision_reason TEXT    NOT NULL,
		decided_us      INTEGER NOT NULL, -- 0: undecided
		via             TEXT    NOT NULL,
		consumed_us     INTEGER NOT NULL  -- 0: not used
	) STRICT`,
	`CREATE INDEX approvals_key ON approvals (grant_id, server, tool, digest, status)`,
	`CREATE INDEX approvals_created ON approvals (created_us, id)`,
	`CREATE INDEX approvals_pending ON approvals (expires_us) WHERE status = 'pending'`,
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

type scanner interface{ Scan(dest ...any) error }

func scan(r scanner) (*approval.Approval, error) {
	var (
		a                                   approval.Approval
		preview                             sql.NullString
		created, expires, decided, consumed int64
	)
	err := r.Scan(&a.ID, &a.GrantID, &a.GrantLabel, &a.Session, &a.Server, &a.Tool, &a.Rule, &a.PolicyReason,
		&preview, &a.Digest, &created, &expires, &a.Status, &a.DecidedBy, &a.DecisionReason, &decided, &a.Via, &consumed)
	if err != nil {
		return nil, err
	}
	if preview.Valid {
		a.Preview = json.RawMessage(preview.String)
	}
	a.Created, a.Expires, a.DecidedAt, a.ConsumedAt = fromUS(created), fromUS(expires), fromUS(decided), fromUS(consumed)
	return &a, nil
}

func scanAll(rows *sql.Rows) ([]*approval.Approval, error) {
	defer rows.Close()
	var as []*approval.Approval
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, rows.Err()
}

// one returns the first row of a query, or ErrNotFound.
func one(rows *sql.Rows, err error) (*approval.Approval, error) {
	if err != nil {
		return nil, err
	}
	as, err := scanAll(rows)
	switch {
	case err != nil:
		return nil, err
	case len(as) == 0:
		return nil, approval.ErrNotFound
	}
	return as[0], nil
}

// write runs f in a transaction that holds the write lock from its start.
func (s *Store) write(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func isConstraint(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// Create implements approval.Store. Its errors are ErrInvalid, ErrExists,
// ErrClosed and the database's.
func (s *Store) Create(ctx context.Context, a *approval.Approval) error {
	if s.closed.Load() {
		return approval.ErrClosed
	}
	if err := a.Check(); err != nil {
		return err
	}
	var preview any
	if len(a.Preview) > 0 {
		preview = string(a.Preview)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO approvals ("+columns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', 0, '', 0)",
			a.ID, a.GrantID, a.GrantLabel, a.Session, a.Server, a.Tool, a.Rule, a.PolicyReason, preview, a.Digest,
			us(a.Created), us(a.Expires), approval.Pending)
		if isConstraint(err) {
			return fmt.Errorf("%w: %s", approval.ErrExists, a.ID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create approval %s: %w", a.ID, err)
	}
	return nil
}

// Get implements approval.Store. Its errors are ErrNotFound, ErrClosed and
// the database's.
func (s *Store) Get(ctx context.Context, id string) (*approval.Approval, error) {
	if s.closed.Load() {
		return nil, approval.ErrClosed
	}
	if !approval.IsID(id) {
		return nil, fmt.Errorf("get approval %q: %w", id, approval.ErrNotFound)
	}
	a, err := one(s.db.QueryContext(ctx, selectAll+" WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("get approval %s: %w", id, err)
	}
	return a, nil
}

// List implements approval.Store. Its errors are ErrClosed and the
// database's.
func (s *Store) List(ctx context.Context, f approval.Filter) ([]*approval.Approval, error) {
	if s.closed.Load() {
		return nil, approval.ErrClosed
	}
	q, args := selectAll+" WHERE 1 = 1", []any{}
	for _, c := range []struct{ column, value string }{{"status", f.Status}, {"server", f.Server}, {"grant_id", f.GrantID}} {
		if c.value != "" {
			q += " AND " + c.column + " = ?"
			args = append(args, c.value)
		}
	}
	q += " ORDER BY created_us DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	as, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	return as, nil
}

// Decide implements approval.Store. Its errors are ErrNotFound,
// ErrInvalid, a *DecidedError (ErrDecided, ErrExpired), ErrClosed and the
// database's.
func (s *Store) Decide(ctx context.Context, id string, d approval.Decision) (*approval.Approval, error) {
	if s.closed.Load() {
		return nil, approval.ErrClosed
	}
	if err := d.Check(); err != nil {
		return nil, err
	}
	if !approval.IsID(id) {
		return nil, fmt.Errorf("decide approval %q: %w", id, approval.ErrNotFound)
	}
	var next *approval.Approval
	var refused error
	err := s.write(ctx, func(tx *sql.Tx) error {
		a, err := one(tx.QueryContext(ctx, selectAll+" WHERE id = ?", id))
		if err != nil {
			return err
		}
		next, refused = a.Apply(d)
		if next == nil {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE approvals SET status = ?, decided_by = ?, decision_reason = ?, decided_us = ?, via = ?
			WHERE id = ?`, next.Status, next.DecidedBy, next.DecisionReason, us(next.DecidedAt), next.Via, id)
		return err
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("decide approval %s: %w", id, err)
	case refused != nil:
		return nil, refused
	}
	return next, nil
}

// Consume implements approval.Store. Its errors are ErrNotFound, ErrClosed
// and the database's.
func (s *Store) Consume(ctx context.Context, k approval.Key, at time.Time) (*approval.Approval, error) {
	if s.closed.Load() {
		return nil, approval.ErrClosed
	}
	var a *approval.Approval
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		a, err = one(tx.QueryContext(ctx, `UPDATE approvals SET consumed_us = ?
			WHERE id = (SELECT id FROM approvals
				WHERE grant_id = ? AND server = ? AND tool = ? AND digest = ? AND status = 'approved'
					AND consumed_us = 0 AND expires_us > ?
				ORDER BY decided_us, id LIMIT 1)
			RETURNING `+columns,
			us(approval.Round(at)), k.GrantID, k.Server, k.Tool, k.Digest, us(at)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("consume approval for %s/%s: %w", k.Server, k.Tool, err)
	}
	return a, nil
}

// FindPending implements approval.Store. Its errors are ErrNotFound,
// ErrClosed and the database's.
func (s *Store) FindPending(ctx context.Context, k approval.Key, at time.Time) (*approval.Approval, error) {
	if s.closed.Load() {
		return nil, approval.ErrClosed
	}
	a, err := one(s.db.QueryContext(ctx, selectAll+`
		WHERE grant_id = ? AND server = ? AND tool = ? AND digest = ? AND status = 'pending' AND expires_us > ?
		ORDER BY created_us DESC, id DESC LIMIT 1`,
		k.GrantID, k.Server, k.Tool, k.Digest, us(at)))
	if err != nil {
		return nil, fmt.Errorf("find pending approval for %s/%s: %w", k.Server, k.Tool, err)
	}
	return a, nil
}

// Expire implements approval.Store. Its errors are ErrClosed and the
// database's.
func (s *Store) Expire(ctx context.Context, at time.Time) (int, error) {
	if s.closed.Load() {
		return 0, approval.ErrClosed
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, "UPDATE approvals SET status = 'expired' WHERE status = 'pending' AND expires_us <= ?", us(at))
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire approvals: %w", err)
	}
	return int(n), nil
}

// Close implements approval.Store: it closes the database.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}
