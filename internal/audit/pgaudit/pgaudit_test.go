package pgaudit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/audit/audittest"
	"github.com/toolgate/toolgate/internal/audit/pgaudit"
	"github.com/toolgate/toolgate/internal/pgtest"
)

// open opens a store on its own pool, as another replica would; the pool
// is closed when the test ends, after the store.
func open(t testing.TB, url, schema string) *pgaudit.Store {
	t.Helper()
	p := pgtest.Pool(t, url)
	t.Cleanup(p.Close)
	s, err := pgaudit.Open(context.Background(), p, &pgaudit.Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

// tamper changes the database with a pool of its own, as psql would.
type tamper struct {
	pool    *pgxpool.Pool
	records string
}

func (tm tamper) exec(ctx context.Context, q string, args ...any) error {
	tag, err := tm.pool.Exec(ctx, q, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%s changed %d rows", q, tag.RowsAffected())
	}
	return nil
}

func (tm tamper) Set(ctx context.Context, seq int64, column string, value any) error {
	return tm.exec(ctx, fmt.Sprintf("UPDATE %s SET %s = $1 WHERE seq = $2", tm.records, pgx.Identifier{column}.Sanitize()), value, seq)
}

func (tm tamper) Renumber(ctx context.Context, from, to int64) error {
	return tm.exec(ctx, "UPDATE "+tm.records+" SET seq = $1 WHERE seq = $2", to, from)
}

func (tm tamper) Delete(ctx context.Context, seq int64) error {
	return tm.exec(ctx, "DELETE FROM "+tm.records+" WHERE seq = $1", seq)
}

func TestContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audittest.DB {
		url, schema := pgtest.Schema(t, "audit")
		open(t, url, schema).Close() // creates the tables
		p := pgtest.Pool(t, url)
		t.Cleanup(p.Close)
		return audittest.DB{
			Open:   func(t *testing.T) audit.Store { return open(t, url, schema) },
			Tamper: tamper{p, pgx.Identifier{schema, "toolgate_audit"}.Sanitize()},
		}
	})
}

// TestReplicas writes through Writers on three replicas at once, in both
// modes: the chain stays one, with every record.
func TestReplicas(t *testing.T) {
	url, schema := pgtest.Schema(t, "audit")
	const replicas, writers, each = 3, 4, 50
	var (
		wg   sync.WaitGroup
		errs = make(chan error, replicas*writers)
	)
	var stores []*pgaudit.Store
	for i := range replicas {
		s := open(t, url, schema)
		stores = append(stores, s)
		w := audit.NewWriter(s, &audit.WriterOptions{Sync: i == 0, MaxBatch: 7, FlushEvery: 10 * time.Millisecond})
		var inner sync.WaitGroup
		for g := range writers {
			inner.Go(func() {
				for n := range each {
					r := &audit.Record{RequestID: fmt.Sprintf("r%d-w%d-%d", i, g, n), Server: fmt.Sprint(i), Decision: "allow"}
					if err := w.Write(context.Background(), r); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Go(func() {
			inner.Wait()
			if err := w.Close(context.Background()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, s := range stores {
		recs, err := s.Query(context.Background(), audit.Filter{Server: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != writers*each {
			t.Fatalf("replica %d's records: %d stored; want %d", i, len(recs), writers*each)
		}
	}
	rep, err := stores[1].Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Checked != replicas*writers*each {
		t.Fatalf("Verify = checked %d, problems %v; want %d, none", rep.Checked, rep.Problems, replicas*writers*each)
	}
}

// TestSchemaName checks that a schema name that would need quoting is
// refused.
func TestSchemaName(t *testing.T) {
	p := pgtest.Pool(t, pgtest.URL(t))
	defer p.Close()
	for _, schema := range []string{"Audit", "a-b", `x"; DROP TABLE y; --`, strings.Repeat("a", 41)} {
		if _, err := pgaudit.Open(context.Background(), p, &pgaudit.Options{Schema: schema}); err == nil {
			t.Errorf("Open(schema %q) succeeded; want an error", schema)
		}
	}
}

// TestNewerSchema checks that tables made by a newer toolgate are not
// touched.
func TestNewerSchema(t *testing.T) {
	url, schema := pgtest.Schema(t, "audit")
	open(t, url, schema).Close()
	p := pgtest.Pool(t, url)
	defer p.Close()
	table := pgx.Identifier{schema, "toolgate_audit"}.Sanitize()
	if _, err := p.Exec(context.Background(), "COMMENT ON TABLE "+table+" IS 'toolgate audit v99'"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgaudit.Open(context.Background(), p, &pgaudit.Options{Schema: schema}); err == nil {
		t.Fatal("Open of a newer schema succeeded")
	}
}

func BenchmarkAppend(b *testing.B) {
	url, schema := pgtest.Schema(b, "audit")
	s := open(b, url, schema)
	defer s.Close()
	audittest.Benchmark(b, s)
}
