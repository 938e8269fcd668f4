package sqlitedb_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/sqlitedb"
)

var schema = []string{`CREATE TABLE t (x INTEGER NOT NULL) STRICT`}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	opts := sqlitedb.Options{Store: "test store", Version: 1, Schema: schema}
	db, path, err := sqlitedb.Open(ctx, dir, "test.db", opts)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if want := filepath.Join(dir, "test.db"); path != want {
		t.Errorf("Open's path = %q; want %q", path, want)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t (x) VALUES (1)"); err != nil {
		t.Fatalf("insert = %v", err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	db.Close()
	for name, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != want {
			t.Errorf("Stat(%s) = %v, %v; want mode %v", name, fi.Mode().Perm(), err, want)
		}
	}

	// A second open finds the schema and keeps the row.
	opts.NoCreate, opts.Sync = true, true
	db, _, err = sqlitedb.Open(ctx, dir, "test.db", opts)
	if err != nil {
		t.Fatalf("Open again = %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows after reopening = %d, %v; want 1", n, err)
	}
	db.Close()

	// An older toolgate refuses the database.
	opts.Version = 0
	if _, _, err := sqlitedb.Open(ctx, dir, "test.db", opts); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open with an older version = %v; want an error saying the schema is newer", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	opts := sqlitedb.Options{Store: "test store", Version: 1, Schema: schema, NoCreate: true}
	dir := t.TempDir()
	_, _, err := sqlitedb.Open(ctx, dir, "missing.db", opts)
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "open test store: ") {
		t.Errorf("Open(NoCreate) of a missing database = %v; want os.ErrNotExist, prefixed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(NoCreate) created the database")
	}
	opts.NoCreate = false
	if _, _, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "a?b"), "x.db", opts); err == nil || !strings.Contains(err.Error(), "'?' or '#'") {
		t.Errorf("Open of a path with '?' = %v; want refused", err)
	}
}
