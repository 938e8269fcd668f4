package pgpin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/catalog/pgpin"
	"github.com/toolgate/toolgate/internal/catalog/pintest"
	"github.com/toolgate/toolgate/internal/pgtest"
)

// open opens a store on its own pool, as another replica would; the pool
// is closed when the test ends, after the store.
func open(t testing.TB, url, schema string) *pgpin.Store {
	t.Helper()
	p := pgtest.Pool(t, url)
	t.Cleanup(p.Close)
	s, err := pgpin.Open(context.Background(), p, &pgpin.Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	pintest.Run(t, func(t *testing.T) pintest.Opener {
		url, schema := pgtest.Schema(t, "pin")
		return func(t *testing.T) catalog.PinStore { return open(t, url, schema) }
	})
}

func TestSchemaName(t *testing.T) {
	url, _ := pgtest.Schema(t, "pin")
	p := pgtest.Pool(t, url)
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
	url, schema := pgtest.Schema(t, "pin")
	open(t, url, schema).Close()
	p := pgtest.Pool(t, url)
	defer p.Close()
	if _, err := p.Exec(context.Background(), `COMMENT ON TABLE "`+schema+`".toolgate_pins IS 'toolgate pins v2'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pgpin.Open(context.Background(), p, &pgpin.Options{Schema: schema}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer table = %v; want an error saying it is newer", err)
	}
}
