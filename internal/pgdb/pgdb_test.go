package pgdb_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toolgate/toolgate/internal/pgdb"
	"github.com/toolgate/toolgate/internal/pgtest"
)

func TestSchema(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "empty", in: "", want: "public"},
		{name: "plain", in: "toolgate", want: "toolgate"},
		{name: "underscore first", in: "_t0", want: "_t0"},
		{name: "40", in: strings.Repeat("a", 40), want: strings.Repeat("a", 40)},
		{name: "41", in: strings.Repeat("a", 41), err: `schema "` + strings.Repeat("a", 41) + `" is not 1 to 40 of [a-z0-9_]`},
		{name: "upper", in: "Public", err: `schema "Public" is not 1 to 40 of [a-z0-9_]`},
		{name: "digit first", in: "1a", err: `schema "1a" is not 1 to 40 of [a-z0-9_]`},
		{name: "dash", in: "a-b", err: `schema "a-b" is not 1 to 40 of [a-z0-9_]`},
		{name: "injection", in: `x"; DROP TABLE y; --`, err: `schema "x\"; DROP TABLE y; --" is not 1 to 40 of [a-z0-9_]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pgdb.Schema(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("Schema(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Schema(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// open returns a pool on the test database, closed when the test ends,
// and a new schema in it.
func open(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	url, schema := pgtest.Schema(t, "pgdb")
	p := pgtest.Pool(t, url)
	t.Cleanup(p.Close)
	return p, schema
}

// tables describes a table "things" in schema, version v.
func tables(schema string, v int) pgdb.Tables {
	return pgdb.Tables{
		Schema:  schema,
		Table:   "things",
		Name:    "toolgate things",
		Version: v,
		// Not IF NOT EXISTS: running them twice fails.
		Create: []string{
			"CREATE TABLE " + pgx.Identifier{schema, "things"}.Sanitize() + " (id int PRIMARY KEY)",
			"INSERT INTO " + pgx.Identifier{schema, "things"}.Sanitize() + " VALUES (1)",
		},
	}
}

// comment returns the comment of schema's table "things", or nil.
func comment(t *testing.T, p *pgxpool.Pool, schema string) *string {
	t.Helper()
	var c *string
	name := pgx.Identifier{schema, "things"}.Sanitize()
	if err := p.QueryRow(context.Background(), "SELECT obj_description(to_regclass($1), 'pg_class')", name).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func setComment(t *testing.T, p *pgxpool.Pool, schema, c string) {
	t.Helper()
	q := fmt.Sprintf("COMMENT ON TABLE %s IS '%s'", pgx.Identifier{schema, "things"}.Sanitize(), c)
	if _, err := p.Exec(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

// TestMigrate checks that Migrate creates the tables once, marks them with
// their version, and accepts them later at that version or an older one.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	p, schema := open(t)
	if err := pgdb.Migrate(ctx, p, tables(schema, 3)); err != nil {
		t.Fatalf("Migrate of a new schema = %v", err)
	}
	if c := comment(t, p, schema); c == nil || *c != "toolgate things v3" {
		t.Fatalf("comment = %v; want %q", c, "toolgate things v3")
	}
	for _, v := range []int{3, 4} {
		if err := pgdb.Migrate(ctx, p, tables(schema, v)); err != nil {
			t.Fatalf("Migrate(version %d) of version 3 = %v; want nil, and no statement run", v, err)
		}
	}
	if c := comment(t, p, schema); *c != "toolgate things v3" {
		t.Errorf("comment after Migrate(version 4) = %q; want it unchanged", *c)
	}
	var n int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "things"}.Sanitize()).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows = %d, %v; want 1", n, err)
	}
}

// TestMigrateRefuses checks that tables of a newer version, or with
// another comment, are refused and left as they are.
func TestMigrateRefuses(t *testing.T) {
	ctx := context.Background()
	p, schema := open(t)
	if err := pgdb.Migrate(ctx, p, tables(schema, 1)); err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{schema, "things"}.Sanitize()
	for _, tc := range []struct{ name, comment, err string }{
		{"newer", "toolgate things v2", "table " + table + " has version 2, newer than this toolgate's (1)"},
		{"foreign", "someone else's", "table " + table + ` exists, but its comment "someone else's" is not toolgate's`},
		{"another store", "toolgate stuff v1", "table " + table + ` exists, but its comment "toolgate stuff v1" is not toolgate's`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setComment(t, p, schema, strings.ReplaceAll(tc.comment, "'", "''"))
			err := pgdb.Migrate(ctx, p, tables(schema, 1))
			if err == nil || err.Error() != tc.err {
				t.Fatalf("Migrate = %v; want %q", err, tc.err)
			}
			if c := comment(t, p, schema); *c != tc.comment {
				t.Errorf("comment = %q; want %q, unchanged", *c, tc.comment)
			}
		})
	}
}

// TestMigrateRollsBack checks that a failing statement leaves nothing
// behind, not even the schema, so that the next Migrate starts afresh.
func TestMigrateRollsBack(t *testing.T) {
	ctx := context.Background()
	p, schema := open(t)
	bad := tables(schema, 1)
	bad.Create = append(bad.Create, "SELECT 1/0")
	if err := pgdb.Migrate(ctx, p, bad); err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("Migrate with a failing statement = %v; want the database's error", err)
	}
	var exists bool
	if err := p.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil || exists {
		t.Fatalf("schema exists = %v, %v; want false", exists, err)
	}
	if err := pgdb.Migrate(ctx, p, tables(schema, 1)); err != nil {
		t.Fatalf("Migrate after a failed one = %v", err)
	}
}

// TestMigrateConcurrent checks that replicas starting together create the
// tables once: the statements, which fail when run twice, run once.
func TestMigrateConcurrent(t *testing.T) {
	url, schema := pgtest.Schema(t, "pgdb")
	const replicas = 8
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		p := pgtest.Pool(t, url)
		defer p.Close()
		wg.Go(func() { errs[i] = pgdb.Migrate(context.Background(), p, tables(schema, 1)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate by replica %d = %v", i, err)
		}
	}
}
