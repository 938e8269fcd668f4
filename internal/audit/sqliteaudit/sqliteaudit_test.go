package sqliteaudit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/audit/audittest"
	"github.com/toolgate/toolgate/internal/audit/sqliteaudit"
)

func open(t testing.TB, dir string, opts *sqliteaudit.Options) *sqliteaudit.Store {
	t.Helper()
	s, err := sqliteaudit.Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	return s
}

// tamper changes the database with a connection of its own, as the sqlite3
// shell would.
type tamper struct{ db *sql.DB }

func newTamper(t *testing.T, dir string) tamper {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqliteaudit.File)+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return tamper{db}
}

func (tm tamper) exec(ctx context.Context, q string, args ...any) error {
	res, err := tm.db.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%s changed %d rows, %v", q, n, err)
	}
	return nil
}

func (tm tamper) Set(ctx context.Context, seq int64, column string, value any) error {
	return tm.exec(ctx, fmt.Sprintf("UPDATE records SET %s = ? WHERE seq = ?", column), value, seq)
}

func (tm tamper) Renumber(ctx context.Context, from, to int64) error {
	return tm.exec(ctx, "UPDATE records SET seq = ? WHERE seq = ?", to, from)
}

func (tm tamper) Delete(ctx context.Context, seq int64) error {
	return tm.exec(ctx, "DELETE FROM records WHERE seq = ?", seq)
}

func TestContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audittest.DB {
		dir := t.TempDir()
		// Created first, so that the tamperer's connection finds the schema.
		open(t, dir, nil).Close()
		return audittest.DB{
			Open:   func(t *testing.T) audit.Store { return open(t, dir, nil) },
			Tamper: newTamper(t, dir),
		}
	})
}

func TestNoCreate(t *testing.T) {
	dir := t.TempDir()
	_, err := sqliteaudit.Open(context.Background(), dir, &sqliteaudit.Options{NoCreate: true})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(NoCreate) of a directory without a database = %v; want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, sqliteaudit.File)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(NoCreate) created the database: %v", err)
	}
	open(t, dir, nil).Close()
	s := open(t, dir, &sqliteaudit.Options{NoCreate: true})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPrivate checks that the database is readable by its owner only: it
// holds who called what.
func TestPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := open(t, dir, nil)
	defer s.Close()
	for _, p := range []string{dir, filepath.Join(dir, sqliteaudit.File)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for group and others", p, fi.Mode().Perm())
		}
	}
}

// TestNewerSchema checks that a database made by a newer toolgate is not
// touched.
func TestNewerSchema(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, nil).Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqliteaudit.File))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqliteaudit.Open(context.Background(), dir, nil); err == nil {
		t.Fatal("Open of a newer schema succeeded")
	}
}

func BenchmarkAppend(b *testing.B) {
	s := open(b, b.TempDir(), nil)
	defer s.Close()
	audittest.Benchmark(b, s)
}
