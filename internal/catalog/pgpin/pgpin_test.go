package pgpin_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/catalog/pgpin"
	"github.com/toolgate/toolgate/internal/catalog/pintest"
)

// newSchema returns the database URL and a new schema in it, dropped when
// the test ends.
func newSchema(t testing.TB) (url, schema string) {
	t.Helper()
	url = os.Getenv("TOOLGATE_TEST_POSTGRES")
	if url == "" {
		t.Skip("set TOOLGATE_TEST_POSTGRES to a PostgreSQL URL to run this test, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	var b [6]byte
	rand.Read(b[:])
	schema = "toolgate_pin_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		p := newPool(t, url)
		defer p.Close()
		if _, err := p.Exec(context.Background(), `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}

func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgxpool.New = %v", err)
	}
	return p
}

// open opens a store on its own pool, as another replica would; the pool
// is closed when the test ends, after the store.
func open(t testing.TB, url, schema string) *pgpin.Store {
	t.Helper()
	p := newPool(t, url)
	t.Cleanup(p.Close)
	s, err := pgpin.Open(context.Background(), p, &pgpin.Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	pintest.Run(t, func(t *testing.T) pintest.Opener {
		url, schema := newSchema(t)
		return func(t *testing.T) catalog.PinStore { return open(t, url, schema) }
	})
}

func TestSchemaName(t *testing.T) {
	url, _ := newSchema(t)
	p := newPool(t, url)
	defer p.Close()
	for _, schema := range []string{"Public", "a-b", `x"; DROP TABLE y; --`, strings.Repeat("a", 41)} {
		if s, err := pgpin.Open(context.Background(), p, &pgpin.Options{Schema: schema}); err == nil {
			s.Close()
			t.Errorf("Open(schema %q) succeeded; want an error", schema)
		}
	}
}

// TestNewerTable checks that a table made by a newer toolgate is refused,
// not changed.
func TestNewerTable(t *testing.T) {
	url, schema := newSchema(t)
	open(t, url, schema).Close()
	p := newPool(t, url)
	defer p.Close()
	if _, err := p.Exec(context.Background(), `COMMENT ON TABLE "`+schema+`".toolgate_pins IS 'toolgate pins v2'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pgpin.Open(context.Background(), p, &pgpin.Options{Schema: schema}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer table = %v; want an error saying it is newer", err)
	}
}
