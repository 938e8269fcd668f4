package sqliteapproval_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/approval/approvaltest"
	"github.com/toolgate/toolgate/internal/approval/sqliteapproval"
)

func open(t testing.TB, dir string) *sqliteapproval.Store {
	t.Helper()
	s, err := sqliteapproval.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	return s
}

func TestContract(t *testing.T) {
	approvaltest.Run(t, func(t *testing.T) approvaltest.Opener {
		dir := t.TempDir()
		return func(t *testing.T) approval.Store { return open(t, dir) }
	})
}

// TestFile checks where the database is, that only its owner may read it,
// and that it is in WAL mode.
func TestFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := open(t, dir)
	defer s.Close()
	path := filepath.Join(dir, sqliteapproval.File)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Stat(%s) = %v", path, err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %v; want 0600", path, perm)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// TestNewerSchema checks that a database made by a newer toolgate is
// refused rather than misread.
func TestNewerSchema(t *testing.T) {
	dir := t.TempDir()
	open(t, dir).Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqliteapproval.File))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := sqliteapproval.Open(context.Background(), dir, nil); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a newer schema = %v; want an error saying it is newer", err)
	}
}
