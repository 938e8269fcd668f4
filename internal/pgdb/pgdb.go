// Package pgdb sets up the PostgreSQL tables of the stores that gateway
// replicas share, all in the same way: in a schema whose name needs no
// quoting, created with their tables on first open, under an advisory
// lock so that replicas starting together create them once, and with the
// version of their layout kept in a table's comment, checked on every
// later open.
//
// The stores that use it hold no lock after Open: any number of them, on
// any number of machines, may use the tables at once.
package pgdb

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaName is what a store's schema may be called: a name PostgreSQL
// takes as it is, unquoted and not folded.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// Schema returns the schema a store named name is kept in: "public" when
// name is "", else name itself. It fails, with an error that names the
// schema, when name is not 1 to 40 of a-z, 0-9 and _ or begins with a
// digit.
func Schema(name string) (string, error) {
	if name == "" {
		return "public", nil
	}
	if !schemaName.MatchString(name) {
		return "", fmt.Errorf("schema %q is not 1 to 40 of [a-z0-9_]", name)
	}
	return name, nil
}

// Tables describes a store's tables for Migrate. Every field but Create
// must be set.
type Tables struct {
	// Schema is the schema of the tables, as Schema returns it; Migrate
	// creates it if needed.
	Schema string
	// Table is the name, in Schema and unquoted, of the table whose
	// comment holds the version; its schema-qualified, quoted name is the
	// key of the advisory lock.
	Table string
	// Name begins that comment, which is Name + " v" + the version, as in
	// "toolgate pins v1".
	Name string
	// Version is the version, 1 or more, of the layout the store reads and
	// writes.
	Version int
	// Create is the statements that create the tables, Table among them,
	// in a new schema.
	Create []string
}

// Migrate creates the tables t describes, or checks that the existing
// ones are not newer than t.Version, in one transaction that holds an
// advisory lock on t.Table's name, so that it may be called at once by any
// number of replicas, which then create the tables once.
//
// When t.Table has no comment, Migrate creates the schema, runs t.Create
// and then sets t.Table's comment. When it has one, Migrate changes
// nothing: it fails when the comment is not Name's, or holds a version
// newer than t.Version, and accepts any version up to t.Version. Its other
// errors are the database's, unwrapped; the caller says which store they
// are about.
func Migrate(ctx context.Context, pool *pgxpool.Pool, t Tables) error {
	table := pgx.Identifier{t.Schema, t.Table}.Sanitize()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", table); err != nil {
		return err
	}
	var comment *string
	err = tx.QueryRow(ctx, "SELECT obj_description(to_regclass($1), 'pg_class')", table).Scan(&comment)
	if err != nil {
		return err
	}
	if comment != nil {
		var v int
		if _, err := fmt.Sscanf(*comment, strings.ReplaceAll(t.Name, "%", "%%")+" v%d", &v); err != nil {
			return fmt.Errorf("table %s exists, but its comment %q is not toolgate's", table, *comment)
		}
		if v > t.Version {
			return fmt.Errorf("table %s has version %d, newer than this toolgate's (%d)", table, v, t.Version)
		}
		return nil
	}
	stmts := make([]string, 0, len(t.Create)+2)
	stmts = append(stmts, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{t.Schema}.Sanitize())
	stmts = append(stmts, t.Create...)
	stmts = append(stmts, fmt.Sprintf("COMMENT ON TABLE %s IS %s", table,
		quoteLiteral(fmt.Sprintf("%s v%d", t.Name, t.Version))))
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// quoteLiteral returns s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
