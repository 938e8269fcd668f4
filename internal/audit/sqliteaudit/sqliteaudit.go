// Package sqliteaudit is the embedded audit.Store, the default: the
// records of one gateway in an SQLite database (modernc.org/sqlite, pure
// Go, WAL mode) in its state directory.
//
// The gateway appends while the CLI ("toolgate audit", "toolgate audit
// verify") reads the same database from another process, so the store does
// not lock it: any number of stores, in any number of processes on the
// machine, may have it open at once. Appends wait for each other (up to
// Options.BusyTimeout), each reading the chain's head in its transaction,
// so the chain stays one; reads never wait for appends, and Verify reads
// one consistent snapshot while appends go on.
//
// # Durability
//
// WAL with synchronous=FULL: an append is in the WAL file, and synced to
// the disk, when it returns, so it survives the death of the process and a
// power loss or OS crash too. The cost is one fsync per append, which the
// Writer's batching shares among its records (a batch every FlushEvery in
// its default mode; the concurrent writers' records in sync mode), so
// audit.sync's promise (a record is stored before its response leaves)
// holds against a power loss too, not only against a SIGKILL, which
// synchronous=NORMAL would be enough for.
package sqliteaudit

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/audit/internal/sqlrec"
	"github.com/toolgate/toolgate/internal/sqlitedb"
)

// File is the name of the database in the state directory.
const File = "audit.db"

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// BusyTimeout is how long an Append or Prune waits for another
	// connection's to finish before it fails; zero means 5s.
	BusyTimeout time.Duration
	// NoCreate makes Open fail, with an error matching os.ErrNotExist,
	// when the database does not exist, instead of creating it: for tools
	// that only read the records.
	NoCreate bool
}

// Store is the SQLite-backed audit.Store. It is safe for concurrent use.
// Make one with Open; the zero Store is not usable.
type Store struct {
	db     *sql.DB
	path   string
	closed atomic.Bool
}

var _ audit.Store = (*Store)(nil)

const schemaVersion = 1

// pruneBatch is the most records a Prune deletes in one transaction, so
// that appends do not wait long.
const pruneBatch = 1000

// Open opens, creating it if needed (see Options.NoCreate), the store in
// directory dir, which it creates too if needed. It fails when the database
// cannot be read or written, or was made by a newer toolgate.
func Open(ctx context.Context, dir string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	// Write transactions begin IMMEDIATE, taking the write lock before they
	// read the chain's head; read-only ones (Verify) begin DEFERRED.
	db, path, err := sqlitedb.Open(ctx, dir, File, sqlitedb.Options{
		Store:       "audit store",
		BusyTimeout: opts.BusyTimeout,
		Sync:        true,
		NoCreate:    opts.NoCreate,
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
	`CREATE TABLE records (
		seq                 INTEGER NOT NULL PRIMARY KEY,
		time_us             INTEGER NOT NULL, -- Unix microseconds
		request_id          TEXT    NOT NULL,
		grant_id            TEXT    NOT NULL,
		grant_label         TEXT    NOT NULL,
		session_id          TEXT    NOT NULL,
		user_name           TEXT    NOT NULL,
		server              TEXT    NOT NULL,
		method              TEXT    NOT NULL,
		tool                TEXT    NOT NULL,
		decision            TEXT    NOT NULL,
		rule                TEXT    NOT NULL,
		message             TEXT    NOT NULL,
		counters            TEXT,             -- JSON array; NULL: none
		upstream_status     TEXT    NOT NULL,
		upstream_latency_ns INTEGER NOT NULL,
		overhead_ns         INTEGER NOT NULL,
		arg_keys            TEXT,             -- JSON array; NULL: none
		arg_digest          TEXT    NOT NULL,
		args                BLOB,             -- JSON; NULL: not kept
		approval            TEXT,             -- JSON object; NULL: none
		prev                TEXT    NOT NULL,
		hash                TEXT    NOT NULL
	) STRICT`,
	// Each index also holds seq (the rowid), so its matches come in
	// Seq order.
	`CREATE INDEX records_time ON records (time_us)`,
	`CREATE INDEX records_grant_id ON records (grant_id)`,
	`CREATE INDEX records_grant_label ON records (grant_label)`,
	`CREATE INDEX records_server ON records (server)`,
	`CREATE INDEX records_tool ON records (tool)`,
	`CREATE INDEX records_decision ON records (decision)`,
	// The chain's head, kept apart from the records so that deleting the
	// newest is seen, and its anchor: the last record Prune deleted.
	`CREATE TABLE chain (
		id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
		head_seq    INTEGER NOT NULL,
		head_hash   TEXT    NOT NULL,
		anchor_seq  INTEGER NOT NULL,
		anchor_hash TEXT    NOT NULL
	) STRICT`,
	`INSERT INTO chain VALUES (1, 0, '', 0, '')`,
}

func (s *Store) check(what string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", what, audit.ErrClosed)
	}
	return nil
}

var insert = "INSERT INTO records (" + sqlrec.Columns + ") VALUES (?" + strings.Repeat(", ?", sqlrec.NumColumns-1) + ")"

// Append implements audit.Store.
func (s *Store) Append(ctx context.Context, recs []*audit.Record) error {
	if err := s.check("append audit records"); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	if err := s.append(ctx, recs); err != nil {
		return fmt.Errorf("append %d audit records to %s: %w", len(recs), s.path, err)
	}
	return nil
}

func (s *Store) append(ctx context.Context, recs []*audit.Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var (
		seq  int64
		prev string
	)
	if err := tx.QueryRowContext(ctx, "SELECT head_seq, head_hash FROM chain").Scan(&seq, &prev); err != nil {
		return err
	}
	st, err := tx.PrepareContext(ctx, insert)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, r := range recs {
		seq++
		r.Seal(seq, prev)
		prev = r.Hash
		if _, err := st.ExecContext(ctx, sqlrec.Values(r)...); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE chain SET head_seq = ?, head_hash = ?", seq, prev); err != nil {
		return err
	}
	return tx.Commit()
}

func param(int) string { return "?" }

// Query implements audit.Store.
func (s *Store) Query(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	if err := s.check("query audit records"); err != nil {
		return nil, err
	}
	q, args := sqlrec.Select("records", f, param)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit records in %s: %w", s.path, err)
	}
	defer rows.Close()
	var recs []*audit.Record
	for rows.Next() {
		var row sqlrec.Row
		if err := rows.Scan(row.Dest()...); err != nil {
			return nil, fmt.Errorf("query audit records in %s: %w", s.path, err)
		}
		r, err := row.Record()
		if err != nil {
			return nil, fmt.Errorf("query audit records in %s: %w", s.path, err)
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query audit records in %s: %w", s.path, err)
	}
	return recs, nil
}

// Verify implements audit.Store. It reads in one read transaction, which
// appends do not wait for.
func (s *Store) Verify(ctx context.Context) (*audit.VerifyReport, error) {
	if err := s.check("verify audit records"); err != nil {
		return nil, err
	}
	rep, err := s.verify(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify audit records in %s: %w", s.path, err)
	}
	return rep, nil
}

func (s *Store) verify(ctx context.Context) (*audit.VerifyReport, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var (
		headSeq, anchorSeq   int64
		headHash, anchorHash string
	)
	err = tx.QueryRowContext(ctx, "SELECT head_seq, head_hash, anchor_seq, anchor_hash FROM chain").
		Scan(&headSeq, &headHash, &anchorSeq, &anchorHash)
	if err != nil {
		return nil, err
	}
	v := audit.NewVerifier(anchorSeq, anchorHash)
	rows, err := tx.QueryContext(ctx, "SELECT "+sqlrec.Columns+" FROM records ORDER BY seq")
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
		return total, fmt.Errorf("prune audit records in %s: %w", s.path, err)
	}
	return total, nil
}

// prune deletes one stretch, and reports whether there may be more.
func (s *Store) prune(ctx context.Context, before time.Time) (n int64, more bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback()
	var (
		anchorSeq  int64
		anchorHash string
	)
	if err := tx.QueryRowContext(ctx, "SELECT anchor_seq, anchor_hash FROM chain").Scan(&anchorSeq, &anchorHash); err != nil {
		return 0, false, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+sqlrec.Columns+" FROM records WHERE seq > ? ORDER BY seq LIMIT ?", anchorSeq, pruneBatch)
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
	res, err := tx.ExecContext(ctx, "DELETE FROM records WHERE seq <= ?", upto)
	if err != nil {
		return 0, false, err
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE chain SET anchor_seq = ?, anchor_hash = ?", upto, hash); err != nil {
		return 0, false, err
	}
	if err := tx.Commit(); err != nil {
		return 0, false, err
	}
	return n, stretch.More(pruneBatch), nil
}

// Close implements audit.Store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close audit store %s: %w", s.path, err)
	}
	return nil
}
