// Package sqlitepin is the embedded catalog.PinStore: the tool pins of one
// gateway, in an SQLite database (modernc.org/sqlite, pure Go, WAL mode) in
// its state directory.
//
// The gateway records pins while the CLI ("toolgate pin accept") accepts
// changes from another process, so the store does not lock the database:
// any number of stores, in any number of processes on the machine, may have
// it open at once. Every change is one IMMEDIATE transaction, which reads
// the tool's row and writes it back while other writers wait (up to
// Options.BusyTimeout). An Observe that finds the definition it was given
// already recorded writes nothing and does not wait for writers.
//
// WAL with synchronous=NORMAL: a change is in the WAL file when it returns,
// so it survives a crash of the process, not necessarily a power loss (it
// is then lost whole, never half-applied).
package sqlitepin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/catalog/internal/pinstate"
	"github.com/toolgate/toolgate/internal/sqlitedb"
)

// File is the name of the database in the state directory.
const File = "pins.db"

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// BusyTimeout is how long a change waits for another connection's
	// change to finish before it fails; zero means 5s.
	BusyTimeout time.Duration
}

// Store is the SQLite-backed catalog.PinStore. It is safe for concurrent
// use. Make one with Open; the zero Store is not usable.
type Store struct {
	db     *sql.DB
	path   string
	closed atomic.Bool
}

var _ catalog.PinStore = (*Store)(nil)

const (
	schemaVersion = 1
	columns       = "server, tool, digest, definition, first_seen_us, accepted_us, accepted_by, pending_digest, pending_definition, pending_seen_us"
)

// Open opens, creating it if needed, the store in directory dir, which it
// creates too if needed. It fails when the database cannot be read or
// written, or was made by a newer toolgate.
func Open(ctx context.Context, dir string, opts *Options) (*Store, error) {
	var busy time.Duration
	if opts != nil {
		busy = opts.BusyTimeout
	}
	db, path, err := sqlitedb.Open(ctx, dir, File, sqlitedb.Options{
		Store:       "pin store",
		BusyTimeout: busy,
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
	`CREATE TABLE pins (
		server             TEXT    NOT NULL,
		tool               TEXT    NOT NULL,
		digest             TEXT    NOT NULL, -- of the pinned definition
		definition         TEXT    NOT NULL, -- canonical JSON (catalog.Definition)
		first_seen_us      INTEGER NOT NULL, -- Unix microseconds, UTC
		accepted_us        INTEGER NOT NULL, -- 0: pinned when first seen
		accepted_by        TEXT    NOT NULL,
		pending_digest     TEXT,             -- NULL: nothing pending
		pending_definition TEXT,
		pending_seen_us    INTEGER,
		PRIMARY KEY (server, tool)
	) STRICT`,
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// get returns the pin of a tool, or nil.
func get(ctx context.Context, q querier, server, tool string) (*catalog.Pin, error) {
	p, err := scan(q.QueryRowContext(ctx, "SELECT "+columns+" FROM pins WHERE server = ? AND tool = ?", server, tool))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return p, err
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scan(r scanner) (*catalog.Pin, error) {
	var (
		p               catalog.Pin
		def             string
		first, accepted int64
		pDigest, pDef   sql.NullString
		pSeen           sql.NullInt64
	)
	if err := r.Scan(&p.Server, &p.Tool, &p.Digest, &def, &first, &accepted, &p.AcceptedBy, &pDigest, &pDef, &pSeen); err != nil {
		return nil, err
	}
	p.Definition = []byte(def)
	p.FirstSeen, p.AcceptedAt = fromUS(first), fromUS(accepted)
	if pDigest.Valid {
		p.Pending = &catalog.PendingChange{Digest: pDigest.String, Definition: []byte(pDef.String), SeenAt: fromUS(pSeen.Int64)}
	}
	pp := pinstate.Finish(p)
	return &pp, nil
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

// put writes p, inserting or replacing its row.
func put(ctx context.Context, tx *sql.Tx, p catalog.Pin) error {
	var pDigest, pDef, pSeen any
	if c := p.Pending; c != nil {
		pDigest, pDef, pSeen = c.Digest, string(c.Definition), us(c.SeenAt)
	}
	_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO pins ("+columns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		p.Server, p.Tool, p.Digest, string(p.Definition), us(p.FirstSeen), us(p.AcceptedAt), p.AcceptedBy, pDigest, pDef, pSeen)
	return err
}

// update runs f on the pin of a tool (nil if none) in a write transaction,
// and writes the pin f returns when it says so.
func (s *Store) update(ctx context.Context, server, tool string, f func(cur *catalog.Pin) (catalog.Pin, bool, error)) (catalog.Pin, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return catalog.Pin{}, err
	}
	defer tx.Rollback()
	cur, err := get(ctx, tx, server, tool)
	if err != nil {
		return catalog.Pin{}, err
	}
	p, write, err := f(cur)
	if err != nil || !write {
		return p, err
	}
	if err := put(ctx, tx, p); err != nil {
		return catalog.Pin{}, err
	}
	return p, tx.Commit()
}

// Observe implements catalog.PinStore.
func (s *Store) Observe(ctx context.Context, server string, t *mcp.Tool, digest string, at time.Time) (catalog.Pin, error) {
	if s.closed.Load() {
		return catalog.Pin{}, catalog.ErrClosed
	}
	o, err := pinstate.Observe(server, t, digest, at)
	if err != nil {
		return catalog.Pin{}, err
	}
	// Most observations find what they were given: they only read.
	cur, err := get(ctx, s.db, server, o.Tool)
	if err != nil {
		return catalog.Pin{}, fmt.Errorf("observe %s/%s: %w", server, o.Tool, err)
	}
	if p, write := pinstate.Apply(cur, o); !write {
		return p, nil
	}
	p, err := s.update(ctx, server, o.Tool, func(cur *catalog.Pin) (catalog.Pin, bool, error) {
		p, write := pinstate.Apply(cur, o)
		return p, write, nil
	})
	if err != nil {
		return catalog.Pin{}, fmt.Errorf("observe %s/%s: %w", server, o.Tool, err)
	}
	return p, nil
}

// Accept implements catalog.PinStore.
func (s *Store) Accept(ctx context.Context, server, tool, digest, by string, at time.Time) (catalog.Pin, error) {
	if s.closed.Load() {
		return catalog.Pin{}, catalog.ErrClosed
	}
	at, err := pinstate.CheckAccept(server, tool, digest, by, at)
	if err != nil {
		return catalog.Pin{}, err
	}
	var stateErr error
	p, err := s.update(ctx, server, tool, func(cur *catalog.Pin) (catalog.Pin, bool, error) {
		if cur == nil {
			return catalog.Pin{}, false, fmt.Errorf("accept %s/%s: %w", server, tool, catalog.ErrNoPin)
		}
		p, err := pinstate.Accept(*cur, digest, by, at)
		stateErr = err
		return p, err == nil, nil
	})
	switch {
	case errors.Is(err, catalog.ErrNoPin):
		return catalog.Pin{}, err
	case err != nil:
		return catalog.Pin{}, fmt.Errorf("accept %s/%s: %w", server, tool, err)
	}
	return p, stateErr
}

// List implements catalog.PinStore.
func (s *Store) List(ctx context.Context, server string) ([]catalog.Pin, error) {
	if s.closed.Load() {
		return nil, catalog.ErrClosed
	}
	q, args := "SELECT "+columns+" FROM pins ORDER BY server, tool", []any(nil)
	if server != "" {
		q, args = "SELECT "+columns+" FROM pins WHERE server = ? ORDER BY tool", []any{server}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list pins: %w", err)
	}
	defer rows.Close()
	var ps []catalog.Pin
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list pins: %w", err)
		}
		ps = append(ps, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list pins: %w", err)
	}
	return ps, nil
}

// Close implements catalog.PinStore.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}
