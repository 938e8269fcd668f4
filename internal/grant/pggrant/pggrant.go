// Package pggrant is the grant.Store shared by several gateway replicas,
// in PostgreSQL (github.com/jackc/pgx/v5).
//
// # Lookup
//
// Reading the database on every request would cost a round trip (about
// 70µs on one machine, more across a network) on the hot path. Instead,
// each store keeps every grant in memory and serves Lookup from there, and
// the writers wait: Create and Revoke return only once every replica's
// memory holds their change, so a request that arrives after they return,
// on any replica, sees it. The protocol:
//
//   - Every write transaction locks the grants table against other writers,
//     stamps the rows it changes with a sequence number one above the
//     table's highest (so sequence numbers follow commit order) and, for
//     Create and Revoke, sends a NOTIFY.
//   - Each store registers as a replica and keeps one connection that
//     LISTENs. On a notification, and at least every third of
//     Options.Lease, it syncs: in one transaction, which holds off writers,
//     it reads the rows stamped after those it has, applies them, and
//     records in its replica row that it has applied everything up to the
//     highest stamp, with a lease: now() + Lease.
//   - A Lookup is served from memory only while the store's lease lasts, by
//     its own monotonic clock: Lease, less a tenth for the clocks' drift,
//     from just before the sync that granted it began. Otherwise (the store
//     lost touch with the database) it reads the database.
//   - After committing, Create and Revoke wait until no replica whose lease
//     is running (by the database's clock) has applied less than their
//     change. A replica that stopped answering is waited for until its lease
//     ends, at most Lease, by which time it serves Lookups from the database
//     itself.
//
// A new grant on a replica is thus in its memory when Create returns, so a
// Lookup that misses in memory is ErrNotFound without a round trip: tokens
// that do not exist cost the database nothing.
//
// Options.NoCache makes a store that does not register and reads the
// database at every Lookup: for the CLI and other short-lived tools, whose
// writes still wait for the replicas.
//
// Rows changed by hand (an UPDATE in psql) are stamped by a trigger, which
// also notifies, so they reach every replica within a round trip, without
// the wait; deleting grants is refused.
package pggrant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toolgate/toolgate/internal/grant"
	"github.com/toolgate/toolgate/internal/grant/internal/cache"
	"github.com/toolgate/toolgate/internal/grant/internal/lastused"
	"github.com/toolgate/toolgate/internal/pgdb"
)

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// Schema is the PostgreSQL schema of the store's tables, created if
	// needed; "" means "public". Stores share grants when they share a
	// database and a schema.
	Schema string
	// Lease is how long a replica may serve Lookups from memory after
	// confirming it is current, and so the longest a Create or Revoke waits
	// for a replica that stopped answering; zero means 3s. Replicas renew
	// their lease every third of it.
	Lease time.Duration
	// NoCache makes a store that reads the database at every Lookup and
	// does not register as a replica, for short-lived tools such as the CLI.
	NoCache bool
	// TouchEvery is the longest a Touch waits to be written, and the
	// shortest time between two writes of Touch times; zero means 5s.
	TouchEvery time.Duration
	// Logf logs failures of background work (syncs, Touch writes); nil
	// means log.Printf.
	Logf func(format string, args ...any)

	// beforeSync, if set, is called before each sync, for tests.
	beforeSync func()
}

// Store is the PostgreSQL-backed grant.Store. It is safe for concurrent
// use. Make one with Open; the zero Store is not usable.
type Store struct {
	pool   *pgxpool.Pool
	opts   Options
	q      queries
	index  cache.Index
	touch  *lastused.Batch
	closed atomic.Bool

	// The replica: its ID in the replicas table ("" with NoCache) and host
	// (for people), the origin of its monotonic clock, and the end of its
	// lease on that clock.
	id         string
	host       string
	epoch      time.Time
	leaseUntil atomic.Int64
	stop       context.CancelFunc // stops the listener
	done       chan struct{}      // closed when the listener returns
}

var _ grant.Store = (*Store)(nil)

// queries holds the store's SQL, with its schema's names.
type queries struct {
	grants, replicas, channel       string // quoted names; channel's raw name is channelName
	channelName                     string
	selectChanged, selectByHash     string
	selectByID, selectByLabel, list string
	insert, revoke, touch           string
	lockWrite, lockSync, nextSeq    string
	ack, unconfirmed, deregister    string
}

const (
	columns       = "hash, id, label, server, policy, created, expires, revoked, last_used, seq"
	schemaVersion = 1
)

func newQueries(schema string) queries {
	id := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	q := queries{
		grants:      id("toolgate_grants"),
		replicas:    id("toolgate_grant_replicas"),
		channelName: "toolgate_grants." + schema,
	}
	q.channel = pgx.Identifier{q.channelName}.Sanitize()
	sel := "SELECT " + columns + " FROM " + q.grants
	q.selectChanged = sel + " WHERE seq > $1"
	q.selectByHash = sel + " WHERE hash = $1"
	q.selectByID = sel + " WHERE id = $1"
	q.selectByLabel = sel + " WHERE label = $1 AND revoked IS NULL"
	q.list = sel + " ORDER BY created DESC, id DESC"
	q.insert = "INSERT INTO " + q.grants + " (" + columns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9)"
	q.revoke = "UPDATE " + q.grants + " SET revoked = $1, seq = $2 WHERE id = $3"
	q.touch = "UPDATE " + q.grants + " SET last_used = $1, seq = $2 WHERE id = $3 AND (last_used IS NULL OR last_used < $1)"
	// Writers exclude each other, and syncs exclude writers, but syncs and
	// plain reads go on together.
	q.lockWrite = "LOCK TABLE " + q.grants + " IN SHARE ROW EXCLUSIVE MODE"
	q.lockSync = "LOCK TABLE " + q.grants + " IN SHARE MODE"
	q.nextSeq = "SELECT coalesce(max(seq), 0) + 1 FROM " + q.grants
	q.ack = "INSERT INTO " + q.replicas + ` (id, applied, lease_until, host, started)
		VALUES ($1, $2, now() + $3 * interval '1 microsecond', $4, now())
		ON CONFLICT (id) DO UPDATE SET applied = excluded.applied, lease_until = excluded.lease_until`
	q.unconfirmed = "SELECT count(*) FROM " + q.replicas + " WHERE applied < $1 AND lease_until > now()"
	q.deregister = "DELETE FROM " + q.replicas + " WHERE id = $1"
	return q
}

// Open opens the store in opts.Schema of pool's database, creating its
// tables if needed, loads the grants and, unless opts.NoCache, registers
// the store as a replica and starts its listener, on a connection taken
// from pool for the store's life. The caller keeps pool, and closes it
// after the Store. Open fails when the database cannot be read or written,
// or its tables were made by a newer toolgate.
func Open(ctx context.Context, pool *pgxpool.Pool, opts *Options) (_ *Store, err error) {
	s := &Store{pool: pool, epoch: time.Now()}
	if opts != nil {
		s.opts = *opts
	}
	o := &s.opts
	if o.Schema, err = pgdb.Schema(o.Schema); err != nil {
		return nil, fmt.Errorf("open grant store: %w", err)
	}
	if o.Lease <= 0 {
		o.Lease = 3 * time.Second
	}
	if o.TouchEvery <= 0 {
		o.TouchEvery = 5 * time.Second
	}
	s.q = newQueries(o.Schema)
	defer func() {
		if err != nil {
			err = fmt.Errorf("open grant store in schema %s: %w", o.Schema, err)
		}
	}()
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if !o.NoCache {
		if err := s.startReplica(ctx); err != nil {
			return nil, err
		}
	}
	s.touch = lastused.Start(o.TouchEvery, s.writeUses, o.Logf)
	return s, nil
}

// migrate creates the tables, or checks their version.
func (s *Store) migrate(ctx context.Context) error {
	stamp := pgx.Identifier{s.opts.Schema, "toolgate_grants_stamp"}.Sanitize()
	return pgdb.Migrate(ctx, s.pool, pgdb.Tables{
		Schema:  s.opts.Schema,
		Table:   "toolgate_grants",
		Name:    "toolgate grants",
		Version: schemaVersion,
		Create: []string{
			"CREATE TABLE " + s.q.grants + ` (
			hash      bytea       NOT NULL UNIQUE, -- SHA-256 of the token
			id        text        NOT NULL PRIMARY KEY,
			label     text        NOT NULL,
			server    text        NOT NULL,
			policy    text        NOT NULL,
			created   timestamptz NOT NULL,
			expires   timestamptz,           -- NULL: never
			revoked   timestamptz,           -- NULL: live
			last_used timestamptz,           -- NULL: never
			seq       bigint      NOT NULL   -- the write transaction that last changed the row
		)`,
			"CREATE UNIQUE INDEX ON " + s.q.grants + " (label) WHERE revoked IS NULL",
			"CREATE INDEX ON " + s.q.grants + " (seq)",
			"CREATE TABLE " + s.q.replicas + ` (
			id          text        NOT NULL PRIMARY KEY,
			applied     bigint      NOT NULL, -- every change up to this seq is in its memory
			lease_until timestamptz NOT NULL, -- it may serve from memory until then
			host        text        NOT NULL,
			started     timestamptz NOT NULL
		)`,
			// Changes made by hand, not by a Store, are stamped and announced as
			// a Store's are; deletions are refused, since replicas would keep
			// serving a deleted grant.
			"CREATE FUNCTION " + stamp + `() RETURNS trigger LANGUAGE plpgsql AS $f$
		BEGIN
			IF TG_OP = 'DELETE' THEN
				RAISE EXCEPTION 'grants are revoked, not deleted';
			END IF;
			IF NEW.seq = OLD.seq THEN
				` + s.q.lockWrite + `;
				NEW.seq := (SELECT max(seq) + 1 FROM ` + s.q.grants + `);
				PERFORM pg_notify(` + quoteLiteral(s.q.channelName) + `, NEW.seq::text);
			END IF;
			RETURN NEW;
		END $f$`,
			"CREATE TRIGGER toolgate_grants_stamp BEFORE UPDATE OR DELETE ON " + s.q.grants +
				" FOR EACH ROW EXECUTE FUNCTION " + stamp + "()",
		},
	})
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// startReplica registers the store, loads the grants and starts the
// listener.
func (s *Store) startReplica(ctx context.Context) error {
	var b [8]byte
	rand.Read(b[:])
	s.id = "rep_" + hex.EncodeToString(b[:])
	host, _ := os.Hostname()
	s.host = fmt.Sprintf("%s:%d", host, os.Getpid())
	// Rows of replicas long gone.
	if _, err := s.pool.Exec(ctx, "DELETE FROM "+s.q.replicas+" WHERE lease_until < now() - interval '1 day'"); err != nil {
		return err
	}
	c, err := s.listen(ctx)
	if err != nil {
		return err
	}
	if err := s.sync(ctx, c); err != nil {
		c.Close(context.Background())
		return err
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stop, s.done = stop, make(chan struct{})
	go s.run(lctx, c)
	return nil
}

// listen returns a connection, taken from the pool for good, that LISTENs
// to the store's channel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	c := pc.Hijack()
	if _, err := c.Exec(ctx, "LISTEN "+s.q.channel); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	return c, nil
}

// run is the listener: it syncs at every notification and at least every
// third of the lease, reconnecting when the connection fails.
func (s *Store) run(ctx context.Context, c *pgx.Conn) {
	defer close(s.done)
	defer func() {
		if c != nil {
			c.Close(context.Background())
		}
	}()
	renew := s.opts.Lease / 3
	for {
		var err error
		if c == nil {
			c, err = s.listen(ctx)
		}
		if err == nil {
			err = s.wait(ctx, c, renew)
		}
		if err == nil {
			err = s.sync(ctx, c)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.logf("grant store: sync with the database: %v (lookups use the database when the lease ends)", err)
			if c != nil {
				c.Close(context.Background())
				c = nil
			}
			// Try again soon, but do not hammer a database in trouble.
			select {
			case <-time.After(renew):
			case <-ctx.Done():
				return
			}
		}
	}
}

// wait returns when a notification arrives or after d, whichever is first,
// having consumed every notification received so far: one sync covers them
// all.
func (s *Store) wait(ctx context.Context, c *pgx.Conn, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	_, err := c.WaitForNotification(wctx)
	cancel()
	if err != nil && wctx.Err() != nil && ctx.Err() == nil {
		err = nil // timed out: time to renew
	}
	if err != nil {
		return err
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	for {
		// With a done context this returns only notifications already
		// received, without reading from the connection.
		if n, _ := c.WaitForNotification(done); n == nil {
			return nil
		}
	}
}

func (s *Store) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// sync applies the changes the store does not have, and renews its lease.
func (s *Store) sync(ctx context.Context, c *pgx.Conn) error {
	if s.opts.beforeSync != nil {
		s.opts.beforeSync()
	}
	// The lease is counted from before the transaction begins, so it ends
	// before the one the database records, which is counted from its start.
	began := time.Since(s.epoch)
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	// No write can commit between this lock and our commit, so what we
	// read is every change up to the highest seq, and the acknowledgment
	// below is true when a writer reads it.
	if _, err := tx.Exec(ctx, s.q.lockSync); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, s.q.selectChanged, s.index.Seq())
	if err != nil {
		return err
	}
	var changed []cache.Row
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			rows.Close()
			return err
		}
		changed = append(changed, cache.Row{Hash: r.hash, Grant: r.Grant, Seq: r.seq})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Applied before the acknowledgment commits: once a writer sees it,
	// Lookups see the change.
	s.index.Apply(changed)
	if _, err := tx.Exec(ctx, s.q.ack, s.id, s.index.Seq(), s.opts.Lease.Microseconds(), s.host); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	s.leaseUntil.Store(int64(began + s.opts.Lease - s.opts.Lease/10))
	return nil
}

type row struct {
	grant.Grant
	hash [32]byte
	seq  int64
}

func scan(rows pgx.Row) (*row, error) {
	var (
		r                      row
		h                      []byte
		expires, revoked, used pgtype.Timestamptz
	)
	if err := rows.Scan(&h, &r.ID, &r.Label, &r.Server, &r.Policy, &r.Created, &expires, &revoked, &used, &r.seq); err != nil {
		return nil, err
	}
	if len(h) != 32 {
		return nil, fmt.Errorf("grant %s has a %d-byte hash", r.ID, len(h))
	}
	copy(r.hash[:], h)
	r.Created = r.Created.UTC()
	for _, t := range []struct {
		dst *time.Time
		src pgtype.Timestamptz
	}{{&r.Expires, expires}, {&r.Revoked, revoked}, {&r.LastUsed, used}} {
		if t.src.Valid {
			*t.dst = t.src.Time.UTC()
		}
	}
	return &r, nil
}

// ts returns t for a timestamptz column, NULL for the zero Time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// Lookup implements grant.Store. While the store's lease lasts it reads
// only memory; otherwise, and with NoCache, it reads the database. Its
// errors are ErrNotFound, ErrClosed and the database's.
func (s *Store) Lookup(ctx context.Context, hash [32]byte) (*grant.Grant, error) {
	if s.closed.Load() {
		return nil, grant.ErrClosed
	}
	if s.id != "" && int64(time.Since(s.epoch)) < s.leaseUntil.Load() {
		if g, ok := s.index.Get(hash); ok {
			return g, nil
		}
		return nil, grant.ErrNotFound
	}
	return s.lookupDB(ctx, hash)
}

// lookupDB is Lookup from the database, apart so that only this path
// pays for hash escaping to the heap.
func (s *Store) lookupDB(ctx context.Context, hash [32]byte) (*grant.Grant, error) {
	r, err := scan(s.pool.QueryRow(ctx, s.q.selectByHash, hash[:]))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, grant.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("look up grant: %w", err)
	}
	return &r.Grant, nil
}

// write runs f in a write transaction, passing it the sequence number to
// stamp the rows it changes with, and returns that number. With notify it
// wakes the replicas.
func (s *Store) write(ctx context.Context, notify bool, f func(tx pgx.Tx, seq int64) error) (int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, s.q.lockWrite); err != nil {
		return 0, err
	}
	var seq int64
	if err := tx.QueryRow(ctx, s.q.nextSeq).Scan(&seq); err != nil {
		return 0, err
	}
	if err := f(tx, seq); err != nil {
		return 0, err
	}
	if notify {
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", s.q.channelName, strconv.FormatInt(seq, 10)); err != nil {
			return 0, err
		}
	}
	return seq, tx.Commit(ctx)
}

// confirm waits until every replica holding a lease has applied seq, or
// its lease has ended. The change is committed already, so the wait
// survives the caller's cancellation, bounded by a lease and some slack.
func (s *Store) confirm(ctx context.Context, seq int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.Lease+10*time.Second)
	defer cancel()
	for delay := 500 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		var n int
		if err := s.pool.QueryRow(ctx, s.q.unconfirmed, seq).Scan(&n); err != nil {
			return fmt.Errorf("committed, but not confirmed by every replica (it will reach them within %v): %w", s.opts.Lease, err)
		}
		if n == 0 {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// Create implements grant.Store. It returns when every replica has the
// grant (see the package documentation). Its errors are ErrInvalid,
// ErrExists, ErrClosed and the database's.
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
	seq, err := s.write(ctx, true, func(tx pgx.Tx, seq int64) error {
		if _, err := scan(tx.QueryRow(ctx, s.q.selectByLabel, g.Label)); err == nil {
			return fmt.Errorf("%w: a live grant is labelled %q", grant.ErrExists, g.Label)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err := tx.Exec(ctx, s.q.insert, hash[:], g.ID, g.Label, g.Server, g.Policy,
			g.Created, ts(g.Expires), ts(g.LastUsed), seq)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
			return fmt.Errorf("%w: %w", grant.ErrExists, err)
		}
		return err
	})
	if err == nil {
		err = s.confirm(ctx, seq)
	}
	if err != nil {
		return fmt.Errorf("create grant %s (%s): %w", g.ID, g.Label, err)
	}
	return nil
}

// Revoke implements grant.Store. It returns when every replica refuses the
// grant (see the package documentation). Its errors are ErrNotFound,
// ErrRevoked (with the grant), ErrInvalid, ErrClosed and the database's.
func (s *Store) Revoke(ctx context.Context, idOrLabel string, at time.Time) (*grant.Grant, error) {
	if s.closed.Load() {
		return nil, grant.ErrClosed
	}
	if at.IsZero() {
		return nil, fmt.Errorf("revoke grant %s: %w: zero time", idOrLabel, grant.ErrInvalid)
	}
	var g *grant.Grant
	seq, err := s.write(ctx, true, func(tx pgx.Tx, seq int64) error {
		q := s.q.selectByLabel
		if grant.IsID(idOrLabel) {
			q = s.q.selectByID
		}
		r, err := scan(tx.QueryRow(ctx, q, idOrLabel))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return grant.ErrNotFound
		case err != nil:
			return err
		}
		g = &r.Grant
		if !g.Revoked.IsZero() {
			return grant.ErrRevoked
		}
		g.Revoked = at.UTC().Truncate(time.Microsecond)
		_, err = tx.Exec(ctx, s.q.revoke, g.Revoked, seq, g.ID)
		return err
	})
	if err == nil {
		err = s.confirm(ctx, seq)
	}
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
	rows, err := s.pool.Query(ctx, s.q.list)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	defer rows.Close()
	var gs []*grant.Grant
	for rows.Next() {
		r, err := scan(rows)
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

// writeUses stores the latest uses in one transaction. It does not notify:
// replicas pick the times up at their next sync.
func (s *Store) writeUses(ctx context.Context, uses map[string]time.Time) error {
	_, err := s.write(ctx, false, func(tx pgx.Tx, seq int64) error {
		b := &pgx.Batch{}
		for id, at := range uses {
			b.Queue(s.q.touch, at, seq, id)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	return err
}

// Close implements grant.Store. It stops the listener, writes the pending
// Touch times and removes the replica's registration, so that writers stop
// waiting for it. It does not close the pool.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	errs := []error{s.touch.Close()}
	if s.id != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.pool.Exec(ctx, s.q.deregister, s.id); err != nil {
			errs = append(errs, fmt.Errorf("close grant store: %w", err))
		}
	}
	return errors.Join(errs...)
}
