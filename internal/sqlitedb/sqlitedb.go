// Package sqlitedb opens the SQLite databases (modernc.org/sqlite, pure Go)
// that the embedded stores keep in a gateway's state directory, all in the
// same way: WAL mode, a private file, write transactions that take the
// write lock from the start, and a schema created on first open and
// checked on every later one.
//
// The stores that use it do not lock the database: any number of them, in
// any number of processes on the machine, may have it open at once.
package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// Options says how Open opens a database. Apart from Version and Schema,
// which a store always sets, the zero value means the defaults: create the
// database if needed, synchronous=NORMAL, a 5s busy timeout.
type Options struct {
	// Store names the store in errors, as in "open grant store: ...".
	Store string
	// BusyTimeout is how long a write waits for another connection's
	// write to finish before it fails; zero or less means 5s.
	BusyTimeout time.Duration
	// Sync makes every commit synced to the disk (synchronous=FULL), so
	// that it survives a power loss or an OS crash, at the cost of an
	// fsync per commit. Without it (synchronous=NORMAL) a commit is in the
	// WAL file when it returns, so it survives the death of the process
	// only; a later power loss loses it whole, never half-applied.
	Sync bool
	// NoCreate makes Open fail, with an error matching os.ErrNotExist,
	// when the database does not exist, instead of creating it and its
	// directory.
	NoCreate bool
	// Version is the version, 1 or more, of the schema the store reads and
	// writes, kept in the database's user_version.
	Version int
	// Schema is the statements that create that schema in a new database.
	Schema []string
}

// Open opens the database file in directory dir, which it creates, with
// the database, unless opts.NoCreate: both are made private to the user
// (0700 and 0600; SQLite gives the WAL and WAL-index files the database's
// permissions). Transactions begun on the returned *sql.DB are IMMEDIATE:
// they take SQLite's write lock before their first read, so that a read and
// the write that depends on it are one step for every other connection.
//
// Open creates the schema in a new database, in one transaction, or checks
// that an existing one's version is not newer than opts.Version.
//
// Open returns the database and the path of its file. Its errors begin
// "open " + opts.Store; they are the file system's, the database's, and
// one saying the schema was made by a newer toolgate.
func Open(ctx context.Context, dir, file string, opts Options) (*sql.DB, string, error) {
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	path := filepath.Join(dir, file)
	// Either would end the file name in the DSN.
	if strings.ContainsAny(path, "?#") {
		return nil, "", fmt.Errorf("open %s %s: the path contains '?' or '#'", opts.Store, path)
	}
	if opts.NoCreate {
		if _, err := os.Stat(path); err != nil {
			return nil, "", fmt.Errorf("open %s: %w", opts.Store, err)
		}
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", fmt.Errorf("open %s: %w", opts.Store, err)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, "", fmt.Errorf("open %s: %w", opts.Store, err)
		}
		f.Close()
	}
	synchronous := "NORMAL"
	if opts.Sync {
		synchronous = "FULL"
	}
	dsn := fmt.Sprintf("file:%s?_busy_timeout=%d&_journal_mode=WAL&_synchronous=%s&_txlock=immediate",
		path, busy.Milliseconds(), synchronous)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, "", fmt.Errorf("open %s %s: %w", opts.Store, path, err)
	}
	if err := migrate(ctx, db, opts.Version, opts.Schema); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("open %s %s: %w", opts.Store, path, err)
	}
	return db, path, nil
}

// migrate creates the schema, or checks its version.
func migrate(ctx context.Context, db *sql.DB, version int, schema []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	switch {
	case v > version:
		return fmt.Errorf("schema version %d is newer than this toolgate's (%d)", v, version)
	case v == version:
		return nil
	}
	for _, q := range schema {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return err
	}
	return tx.Commit()
}
