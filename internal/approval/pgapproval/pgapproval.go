// Package pgapproval is the approval.Store shared by several gateway
// replicas, in PostgreSQL (github.com/jackc/pgx/v5).
//
// Every read and write goes to the database; there is no cache, so a store
// sees at once what any replica committed. Decide reads the approval with
// SELECT … FOR UPDATE and writes it in the same transaction, so racing
// Decides, on any replicas, take turns and all but the first find it
// decided. Consume marks the oldest matching approval in one UPDATE that
// checks again, under the row's lock, that it is still unused; a Consume
// that loses that race looks again, so it answers ErrNotFound only when no
// matching approval is left. Expire's UPDATE waits on, and skips, an
// approval being decided.
package pgapproval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/pgdb"
)

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// Schema is the PostgreSQL schema of the store's table, created if
	// needed; "" means "public". Stores share approvals when they share a
	// database and a schema.
	Schema string
}

// Store is the PostgreSQL-backed approval.Store. It is safe for concurrent
// use, also by other replicas on the same database and schema. Make one
// with Open; the zero Store is not usable.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	q      queries
	closed atomic.Bool
}

var _ approval.Store = (*Store)(nil)

const (
	columns = `id, grant_id, grant_label, session, server, tool, rule, policy_reason, preview, digest,
		created, expires, status, decided_by, decision_reason, decided_at, via, consumed_at`
	schemaVersion = 1
)

// queries holds the store's SQL, with its schema's names.
type queries struct {
	table                       string
	insert, get, list           string
	getForUpdate, decide        string
	consume, consumable, expire string
	findPending                 string
}

func newQueries(schema string) queries {
	t := pgx.Identifier{schema, "toolgate_approvals"}.Sanitize()
	sel := "SELECT " + columns + " FROM " + t
	key := "grant_id = $1 AND server = $2 AND tool = $3 AND digest = $4"
	candidate := "SELECT id FROM " + t + " WHERE " + key +
		" AND status = 'approved' AND consumed_at IS NULL AND expires > $5 ORDER BY decided_at, id LIMIT 1"
	return queries{
		table: t,
		insert: "INSERT INTO " + t + " (" + columns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', '', '', NULL, '', NULL)`,
		get:          sel + " WHERE id = $1",
		list:         sel,
		getForUpdate: sel + " WHERE id = $1 FOR UPDATE",
		decide: "UPDATE " + t + ` SET status = $2, decided_by = $3, decision_reason = $4, decided_at = $5, via = $6
			WHERE id = $1`,
		// The WHERE is evaluated again on the row as it is once locked, so
		// of two Consumes that picked the same row one updates it.
		consume: "UPDATE " + t + " SET consumed_at = $6 WHERE id = (" + candidate + ")" +
			" AND status = 'approved' AND consumed_at IS NULL RETURNING " + columns,
		consumable:  candidate,
		expire:      "UPDATE " + t + " SET status = 'expired' WHERE status = 'pending' AND expires <= $1",
		findPending: sel + " WHERE " + key + " AND status = 'pending' AND expires > $5 ORDER BY created DESC, id DESC LIMIT 1",
	}
}

// Open opens the store in opts.Schema of pool's database, creating its
// table if needed. The caller keeps pool, and closes it after the Store.
// Open fails when the database cannot be read or written, or the table was
// made by a newer toolgate.
func Open(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	schema, err := pgdb.Schema(o.Schema)
	if err != nil {
		return nil, fmt.Errorf("open approval store: %w", err)
	}
	o.Schema = schema
	s := &Store{pool: pool, schema: o.Schema, q: newQueries(o.Schema)}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("open approval store in schema %s: %w", o.Schema, err)
	}
	return s, nil
}

// migrate creates the table, or checks its version.
func (s *Store) migrate(ctx context.Context) error {
	return pgdb.Migrate(ctx, s.pool, pgdb.Tables{
		Schema:  s.schema,
		Table:   "toolgate_approvals",
		Name:    "toolgate approvals",
		Version: schemaVersion,
		Create: []string{
			"CREATE TABLE " + s.q.table + ` (
			id              text        NOT NULL PRIMARY KEY,
			grant_id        text        NOT NULL,
			grant_label     text        NOT NULL,
			session         text        NOT NULL,
			server          text        NOT NULL,
			tool            text        NOT NULL,
			rule            text        NOT NULL,
			policy_reason   text        NOT NULL,
			preview         text,                 -- JSON, as given; NULL: none
			digest          text        NOT NULL,
			created         timestamptz NOT NULL,
			expires         timestamptz NOT NULL,
			status          text        NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
			decided_by      text        NOT NULL,
			decision_reason text        NOT NULL,
			decided_at      timestamptz,          -- NULL: undecided
			via             text        NOT NULL,
			consumed_at     timestamptz           -- NULL: not used
		)`,
			"CREATE INDEX ON " + s.q.table + " (grant_id, server, tool, digest, status)",
			"CREATE INDEX ON " + s.q.table + " (created DESC, id DESC)",
			"CREATE INDEX ON " + s.q.table + " (expires) WHERE status = 'pending'",
		},
	})
}

func scan(r pgx.Row) (*approval.Approval, error) {
	var (
		a                 approval.Approval
		preview           *string
		decided, consumed pgtype.Timestamptz
	)
	err := r.Scan(&a.ID, &a.GrantID, &a.GrantLabel, &a.Session, &a.Server, &a.Tool, &a.Rule, &a.PolicyReason,
		&preview, &a.Digest, &a.Created, &a.Expires, &a.Status, &a.DecidedBy, &a.DecisionReason, &decided, &a.Via, &consumed)
	if err != nil {
		return nil, err
	}
	if preview != nil {
		a.Preview = json.RawMessage(*preview)
	}
	a.Created, a.Expires = a.Created.UTC(), a.Expires.UTC()
	if decided.Valid {
		a.DecidedAt = decided.Time.UTC()
	}
	if consumed.Valid {
		a.ConsumedAt = consumed.Time.UTC()
	}
	return &a, nil
}

// one returns the row of a query, or ErrNotFound.
func one(r pgx.Row) (*approval.Approval, error) {
	a, err := scan(r)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, approval.ErrNotFound
	}
	return a, err
}

// ts returns t for a timestamptz column, NULL for the zero Time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return approval.Round(t)
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
	var preview *string
	if len(a.Preview) > 0 {
		p := string(a.Preview)
		preview = &p
	}
	_, err := s.pool.Exec(ctx, s.q.insert, a.ID, a.GrantID, a.GrantLabel, a.Session, a.Server, a.Tool, a.Rule,
		a.PolicyReason, preview, a.Digest, approval.Round(a.Created), approval.Round(a.Expires))
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		return fmt.Errorf("create approval %s: %w", a.ID, approval.ErrExists)
	case err != nil:
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
	a, err := one(s.pool.QueryRow(ctx, s.q.get, id))
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
	q, args := s.q.list+" WHERE true", []any{}
	for _, c := range []struct{ column, value string }{{"status", f.Status}, {"server", f.Server}, {"grant_id", f.GrantID}} {
		if c.value != "" {
			args = append(args, c.value)
			q += fmt.Sprintf(" AND %s = $%d", c.column, len(args))
		}
	}
	q += " ORDER BY created DESC, id DESC"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	defer rows.Close()
	var as []*approval.Approval
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list approvals: %w", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := one(tx.QueryRow(ctx, s.q.getForUpdate, id))
		if err != nil {
			return err
		}
		next, refused = a.Apply(d)
		if next == nil {
			return nil
		}
		_, err = tx.Exec(ctx, s.q.decide, id, next.Status, next.DecidedBy, next.DecisionReason, ts(next.DecidedAt), next.Via)
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
	for {
		a, err := one(s.pool.QueryRow(ctx, s.q.consume, k.GrantID, k.Server, k.Tool, k.Digest, at, ts(at)))
		if !errors.Is(err, approval.ErrNotFound) {
			if err != nil {
				return nil, fmt.Errorf("consume approval for %s/%s: %w", k.Server, k.Tool, err)
			}
			return a, nil
		}
		// Nothing matched, or another Consume took the row picked: the
		// latter leaves one fewer to pick, so this ends.
		var id string
		err = s.pool.QueryRow(ctx, s.q.consumable, k.GrantID, k.Server, k.Tool, k.Digest, at).Scan(&id)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("consume approval for %s/%s: %w", k.Server, k.Tool, approval.ErrNotFound)
		case err != nil:
			return nil, fmt.Errorf("consume approval for %s/%s: %w", k.Server, k.Tool, err)
		}
	}
}

// FindPending implements approval.Store. Its errors are ErrNotFound,
// ErrClosed and the database's.
func (s *Store) FindPending(ctx context.Context, k approval.Key, at time.Time) (*approval.Approval, error) {
	if s.closed.Load() {
		return nil, approval.ErrClosed
	}
	a, err := one(s.pool.QueryRow(ctx, s.q.findPending, k.GrantID, k.Server, k.Tool, k.Digest, at))
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
	tag, err := s.pool.Exec(ctx, s.q.expire, at)
	if err != nil {
		return 0, fmt.Errorf("expire approvals: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Close implements approval.Store. It does not close the pool.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}
