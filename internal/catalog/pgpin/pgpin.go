// Package pgpin is the catalog.PinStore shared by several gateway
// replicas, in PostgreSQL (github.com/jackc/pgx/v5).
//
// Each tool's pin is one row. An Observe first reads the row, and writes
// nothing when it already records the definition observed, which is the
// common case: replicas that list the same tools agree without writing.
// Otherwise, and for every Accept, a transaction locks the row (SELECT …
// FOR UPDATE; a tool seen for the first time is inserted with ON CONFLICT
// DO NOTHING, so that replicas seeing it at once insert it once), decides
// the new pin from what it read, and writes it back. Changes to one tool
// are thus serialized, and changes to different tools do not wait for
// each other.
package pgpin

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/catalog/internal/pinstate"
	"github.com/toolgate/toolgate/internal/pgdb"
)

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// Schema is the PostgreSQL schema of the store's table, created if
	// needed; "" means "public". Stores share pins when they share a
	// database and a schema.
	Schema string
}

// Store is the PostgreSQL-backed catalog.PinStore. It is safe for
// concurrent use. Make one with Open; the zero Store is not usable.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	q      queries
	closed atomic.Bool
}

var _ catalog.PinStore = (*Store)(nil)

const (
	columns       = "server, tool, digest, definition, first_seen, accepted_at, accepted_by, pending_digest, pending_definition, pending_seen"
	schemaVersion = 1
)

// queries holds the store's SQL, with its schema's names.
type queries struct {
	table               string
	get, getForUpdate   string
	insert, update      string
	listAll, listServer string
}

func newQueries(schema string) queries {
	q := queries{table: pgx.Identifier{schema, "toolgate_pins"}.Sanitize()}
	sel := "SELECT " + columns + " FROM " + q.table
	q.get = sel + " WHERE server = $1 AND tool = $2"
	q.getForUpdate = q.get + " FOR UPDATE"
	q.insert = "INSERT INTO " + q.table + " (" + columns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (server, tool) DO NOTHING"
	q.update = "UPDATE " + q.table + ` SET digest = $3, definition = $4, first_seen = $5, accepted_at = $6,
		accepted_by = $7, pending_digest = $8, pending_definition = $9, pending_seen = $10
		WHERE server = $1 AND tool = $2`
	// Byte order, as in every store, whatever the database's collation.
	q.listAll = sel + ` ORDER BY server COLLATE "C", tool COLLATE "C"`
	q.listServer = sel + ` WHERE server = $1 ORDER BY tool COLLATE "C"`
	return q
}

// Open opens the store in opts.Schema of pool's database, creating its
// table if needed. The caller keeps pool, and closes it after the Store.
// Open fails when the database cannot be read or written, or the table was
// made by a newer toolgate.
func Open(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	var name string
	if opts != nil {
		name = opts.Schema
	}
	schema, err := pgdb.Schema(name)
	if err != nil {
		return nil, fmt.Errorf("open pin store: %w", err)
	}
	s := &Store{pool: pool, schema: schema, q: newQueries(schema)}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("open pin store in schema %s: %w", schema, err)
	}
	return s, nil
}

// migrate creates the table, or checks its version.
func (s *Store) migrate(ctx context.Context) error {
	return pgdb.Migrate(ctx, s.pool, pgdb.Tables{
		Schema:  s.schema,
		Table:   "toolgate_pins",
		Name:    "toolgate pins",
		Version: schemaVersion,
		Create: []string{
			"CREATE TABLE " + s.q.table + ` (
			server             text        NOT NULL,
			tool               text        NOT NULL,
			digest             text        NOT NULL, -- of the pinned definition
			definition         text        NOT NULL, -- canonical JSON (catalog.Definition), kept byte for byte
			first_seen         timestamptz NOT NULL,
			accepted_at        timestamptz,          -- NULL: pinned when first seen
			accepted_by        text        NOT NULL,
			pending_digest     text,                 -- NULL: nothing pending
			pending_definition text,
			pending_seen       timestamptz,
			PRIMARY KEY (server, tool)
		)`,
		},
	})
}

// get returns the pin of a tool, or nil.
func get(row pgx.Row) (*catalog.Pin, error) {
	var (
		p               catalog.Pin
		def             string
		accepted, pSeen pgtype.Timestamptz
		pDigest, pDef   pgtype.Text
	)
	err := row.Scan(&p.Server, &p.Tool, &p.Digest, &def, &p.FirstSeen, &accepted, &p.AcceptedBy, &pDigest, &pDef, &pSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.Definition = []byte(def)
	p.FirstSeen = p.FirstSeen.UTC()
	if accepted.Valid {
		p.AcceptedAt = accepted.Time.UTC()
	}
	if pDigest.Valid {
		p.Pending = &catalog.PendingChange{Digest: pDigest.String, Definition: []byte(pDef.String), SeenAt: pSeen.Time.UTC()}
	}
	p = pinstate.Finish(p)
	return &p, nil
}

// args returns the values of columns for p.
func args(p catalog.Pin) []any {
	var pDigest, pDef, pSeen any
	if c := p.Pending; c != nil {
		pDigest, pDef, pSeen = c.Digest, string(c.Definition), c.SeenAt
	}
	var accepted any
	if !p.AcceptedAt.IsZero() {
		accepted = p.AcceptedAt
	}
	return []any{p.Server, p.Tool, p.Digest, string(p.Definition), p.FirstSeen, accepted, p.AcceptedBy, pDigest, pDef, pSeen}
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
	cur, err := get(s.pool.QueryRow(ctx, s.q.get, server, o.Tool))
	if err != nil {
		return catalog.Pin{}, fmt.Errorf("observe %s/%s: %w", server, o.Tool, err)
	}
	if p, write := pinstate.Apply(cur, o); !write {
		return p, nil
	}
	var p catalog.Pin
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := get(tx.QueryRow(ctx, s.q.getForUpdate, server, o.Tool))
		if err != nil {
			return err
		}
		if cur == nil {
			first, _ := pinstate.Apply(nil, o)
			tag, err := tx.Exec(ctx, s.q.insert, args(first)...)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				p = first
				return nil
			}
			// Another store inserted it since: lock what it inserted.
			if cur, err = get(tx.QueryRow(ctx, s.q.getForUpdate, server, o.Tool)); err != nil {
				return err
			}
		}
		next, write := pinstate.Apply(cur, o)
		p = next
		if !write {
			return nil
		}
		_, err = tx.Exec(ctx, s.q.update, args(next)...)
		return err
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
	var (
		p        catalog.Pin
		stateErr error
	)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := get(tx.QueryRow(ctx, s.q.getForUpdate, server, tool))
		if err != nil {
			return err
		}
		if cur == nil {
			return catalog.ErrNoPin
		}
		if p, stateErr = pinstate.Accept(*cur, digest, by, at); stateErr != nil {
			return nil
		}
		_, err = tx.Exec(ctx, s.q.update, args(p)...)
		return err
	})
	if err != nil {
		return catalog.Pin{}, fmt.Errorf("accept %s/%s: %w", server, tool, err)
	}
	return p, stateErr
}

// List implements catalog.PinStore.
func (s *Store) List(ctx context.Context, server string) ([]catalog.Pin, error) {
	if s.closed.Load() {
		return nil, catalog.ErrClosed
	}
	q, a := s.q.listAll, []any(nil)
	if server != "" {
		q, a = s.q.listServer, []any{server}
	}
	rows, err := s.pool.Query(ctx, q, a...)
	if err != nil {
		return nil, fmt.Errorf("list pins: %w", err)
	}
	defer rows.Close()
	var ps []catalog.Pin
	for rows.Next() {
		p, err := get(rows)
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

// Close implements catalog.PinStore. It does not close the pool.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}
