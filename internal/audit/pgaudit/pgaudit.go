// Package pgaudit is the audit.Store shared by several gateway replicas,
// in PostgreSQL (github.com/jackc/pgx/v5).
//
// Replicas append to one chain: an Append locks the chain's head, a row of
// its own table (SELECT … FOR UPDATE), numbers and hashes its records after
// it, inserts them and moves the head, all in one transaction. Appends from
// every replica thus take turns for the time of an insert, which the
// Writer's batching keeps to a few per second per replica in its default
// mode. Queries do not wait for appends, and Verify reads one snapshot
// (REPEATABLE READ) while appends go on.
//
// A record is durable when its Append commits, as PostgreSQL's settings
// (synchronous_commit, replication) make commits durable.
package pgaudit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/audit/internal/sqlrec"
	"github.com/toolgate/toolgate/internal/pgdb"
)

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// Schema is the PostgreSQL schema of the store's tables, created if
	// needed; "" means "public". Stores share a chain when they share a
	// database and a schema.
	Schema string
}

// Store is the PostgreSQL-backed audit.Store. It is safe for concurrent
// use. Make one with Open; the zero Store is not usable.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	closed atomic.Bool

	records, chain   string // quoted names
	recordsID        pgx.Identifier
	columns          []string // for COPY
	insert, lockHead string
}

var _ audit.Store = (*Store)(nil)

const schemaVersion = 1

// pruneBatch is the most records a Prune deletes in one transaction, so
// that appends do not wait long.
const pruneBatch = 1000

// Open opens the store in opts.Schema of pool's database, creating its
// tables if needed. The caller keeps pool, and closes it after the Store.
// Open fails when the database cannot be read or written, or its tables
// were made by a newer toolgate.
func Open(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	var name string
	if opts != nil {
		name = opts.Schema
	}
	schema, err := pgdb.Schema(name)
	if err != nil {
		return nil, fmt.Errorf("open audit store: %w", err)
	}
	s := &Store{
		pool:      pool,
		schema:    schema,
		recordsID: pgx.Identifier{schema, "toolgate_audit"},
		chain:     pgx.Identifier{schema, "toolgate_audit_chain"}.Sanitize(),
		columns:   strings.Split(sqlrec.Columns, ", "),
	}
	s.records = s.recordsID.Sanitize()
	params := make([]string, sqlrec.NumColumns)
	for i := range params {
		params[i] = param(i + 1)
	}
	s.insert = "INSERT INTO " + s.records + " (" + sqlrec.Columns + ") VALUES (" + strings.Join(params, ", ") + ")"
	s.lockHead = "SELECT head_seq, head_hash FROM " + s.chain + " WHERE id = 1 FOR UPDATE"
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("open audit store in schema %s: %w", schema, err)
	}
	return s, nil
}

func param(n int) string { return "$" + strconv.Itoa(n) }

// migrate creates the tables, or checks their version.
func (s *Store) migrate(ctx context.Context) error {
	return pgdb.Migrate(ctx, s.pool, pgdb.Tables{
		Schema:  s.schema,
		Table:   "toolgate_audit",
		Name:    "toolgate audit",
		Version: schemaVersion,
		Create: []string{
			"CREATE TABLE " + s.records + ` (
			seq                 bigint NOT NULL PRIMARY KEY,
			time_us             bigint NOT NULL, -- Unix microseconds
			request_id          text   NOT NULL,
			grant_id            text   NOT NULL,
			grant_label         text   NOT NULL,
			session_id          text   NOT NULL,
			user_name           text   NOT NULL,
			server              text   NOT NULL,
			method              text   NOT NULL,
			tool                text   NOT NULL,
			decision            text   NOT NULL,
			rule                text   NOT NULL,
			message             text   NOT NULL,
			counters            text,            -- JSON array; NULL: none
			upstream_status     text   NOT NULL,
			upstream_latency_ns bigint NOT NULL,
			overhead_ns         bigint NOT NULL,
			arg_keys            text,            -- JSON array; NULL: none
			arg_digest          text   NOT NULL,
			args                bytea,           -- JSON, as hashed; NULL: not kept
			approval            text,            -- JSON object; NULL: none
			prev                text   NOT NULL,
			hash                text   NOT NULL
		)`,
			// With seq last, each index gives its matches in Seq order.
			"CREATE INDEX ON " + s.records + " (time_us)",
			"CREATE INDEX ON " + s.records + " (grant_id, seq)",
			"CREATE INDEX ON " + s.records + " (grant_label, seq)",
			"CREATE INDEX ON " + s.records + " (server, seq)",
			"CREATE INDEX ON " + s.records + " (tool, seq)",
			"CREATE INDEX ON " + s.records + " (decision, seq)",
			// The chain's head, kept apart from the records so that deleting the
			// newest is seen, and locked by every Append; and its anchor: the
			// last record Prune deleted.
			"CREATE TABLE " + s.chain + ` (
			id          int    NOT NULL PRIMARY KEY CHECK (id = 1),
			head_seq    bigint NOT NULL,
			head_hash   text   NOT NULL,
			anchor_seq  bigint NOT NULL,
			anchor_hash text   NOT NULL
		)`,
			"INSERT INTO " + s.chain + " VALUES (1, 0, '', 0, '')",
		},
	})
}

func (s *Store) check(what string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", what, audit.ErrClosed)
	}
	return nil
}

// Append implements audit.Store.
func (s *Store) Append(ctx context.Context, recs []*audit.Record) error {
	if err := s.check("append audit records"); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	if err := s.append(ctx, recs); err != nil {
		return fmt.Errorf("append %d audit records to schema %s: %w", len(recs), s.schema, err)
	}
	return nil
}

func (s *Store) append(ctx context.Context, recs []*audit.Record) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var (
		seq  int64
		prev string
	)
	if err := tx.QueryRow(ctx, s.lockHead).Scan(&seq, &prev); err != nil {
		return err
	}
	rows := make([][]any, len(recs))
	for i, r := range recs {
		seq++
		r.Seal(seq, prev)
		prev = r.Hash
		rows[i] = sqlrec.Values(r)
	}
	if len(rows) == 1 {
		_, err = tx.Exec(ctx, s.insert, rows[0]...)
	} else {
		_, err = tx.CopyFrom(ctx, s.recordsID, s.columns, pgx.CopyFromRows(rows))
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE "+s.chain+" SET head_seq = $1, head_hash = $2 WHERE id = 1", seq, prev); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Query implements audit.Store.
func (s *Store) Query(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	if err := s.check("query audit records"); err != nil {
		return nil, err
	}
	q, args := sqlrec.Select(s.records, f, param)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit records in schema %s: %w", s.schema, err)
	}
	defer rows.Close()
	var recs []*audit.Record
	for rows.Next() {
		var row sqlrec.Row
		if err := rows.Scan(row.Dest()...); err != nil {
			return nil, fmt.Errorf("query audit records in schema %s: %w", s.schema, err)
		}
		r, err := row.Record()
		if err != nil {
			return nil, fmt.Errorf("query audit records in schema %s: %w", s.schema, err)
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query audit records in schema %s: %w", s.schema, err)
	}
	return recs, nil
}

// Verify implements audit.Store.
func (s *Store) Verify(ctx context.Context) (*audit.VerifyReport, error) {
	if err := s.check("verify audit records"); err != nil {
		return nil, err
	}
	rep, err := s.verify(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify audit records in schema %s: %w", s.schema, err)
	}
	return rep, nil
}

func (s *Store) verify(ctx context.Context) (*audit.VerifyReport, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	var (
		headSeq, anchorSeq   int64
		headHash, anchorHash string
	)
	err = tx.QueryRow(ctx, "SELECT head_seq, head_hash, anchor_seq, anchor_hash FROM "+s.chain+" WHERE id = 1").
		Scan(&headSeq, &headHash, &anchorSeq, &anchorHash)
	if err != nil {
		return nil, err
	}
	v := audit.NewVerifier(anchorSeq, anchorHash)
	rows, err := tx.Query(ctx, "SELECT "+sqlrec.Columns+" FROM "+s.records+" ORDER BY seq")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var row sqlrec.Row
		if err := rows.Scan(row.Dest()...); err != nil {
			return nil, err
		}
		v.Add(row.Record())
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return v.Report(headSeq, headHash), nil
}

// Prune implements audit.Store. It deletes at most a few thousand records
// per transaction, checking each stretch before deleting it: it refuses to
// delete damaged records, which would hide the damage, and returns an
// error naming the first problem (having deleted the stretches before).
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	if err := s.check("prune audit records"); err != nil {
		return 0, err
	}
	total, err := audit.PruneStretches(func() (int64, bool, error) { return s.prune(ctx, before) })
	if err != nil {
		return total, fmt.Errorf("prune audit records in schema %s: %w", s.schema, err)
	}
	return total, nil
}

// prune deletes one stretch, and reports whether there may be more.
func (s *Store) prune(ctx context.Context, before time.Time) (n int64, more bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback(ctx)
	var (
		anchorSeq  int64
		anchorHash string
	)
	err = tx.QueryRow(ctx, "SELECT anchor_seq, anchor_hash FROM "+s.chain+" WHERE id = 1 FOR UPDATE").Scan(&anchorSeq, &anchorHash)
	if err != nil {
		return 0, false, err
	}
	rows, err := tx.Query(ctx, "SELECT "+sqlrec.Columns+" FROM "+s.records+" WHERE seq > $1 ORDER BY seq LIMIT $2", anchorSeq, pruneBatch)
	if err != nil {
		return 0, false, err
	}
	stretch := audit.NewStretch(anchorSeq, anchorHash, before)
	for rows.Next() {
		var row sqlrec.Row
		if err := rows.Scan(row.Dest()...); err != nil {
			rows.Close()
			return 0, false, err
		}
		if !stretch.Add(row.Record()) {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	upto, hash, err := stretch.End()
	if err != nil || upto == anchorSeq {
		return 0, false, err
	}
	tag, err := tx.Exec(ctx, "DELETE FROM "+s.records+" WHERE seq <= $1", upto)
	if err != nil {
		return 0, false, err
	}
	if _, err := tx.Exec(ctx, "UPDATE "+s.chain+" SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1", upto, hash); err != nil {
		return 0, false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, false, err
	}
	return tag.RowsAffected(), stretch.More(pruneBatch), nil
}

// Close implements audit.Store. It does not close the pool.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}
