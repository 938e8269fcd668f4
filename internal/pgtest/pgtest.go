// Package pgtest gives the tests of the PostgreSQL backends a database to
// run against: the one the TOOLGATE_TEST_POSTGRES environment variable
// names, with a new schema for each test. Tests that call it are skipped
// when the variable is not set.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Env is the environment variable that holds the test database's URL.
const Env = "TOOLGATE_TEST_POSTGRES"

// URL returns the test database's URL, or skips the test when Env is not
// set.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(Env)
	if url == "" {
		t.Skip("set " + Env + " to a PostgreSQL URL to run this test, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return url
}

// Schema returns the test database's URL and the name of a new schema in
// it, "toolgate_" + name + "_test_" and a random suffix, or skips the test
// as URL does. The schema is not created, but it is dropped, with
// everything in it, when the test ends.
func Schema(t testing.TB, name string) (url, schema string) {
	t.Helper()
	url = URL(t)
	var b [6]byte
	rand.Read(b[:])
	schema = "toolgate_" + name + "_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		p := Pool(t, url)
		defer p.Close()
		if _, err := p.Exec(context.Background(), `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}

// Pool returns a new pool on the database at url, or fails the test. The
// caller closes it.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgxpool.New = %v", err)
	}
	return p
}
