package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/load"
)

func benchJSON(t *testing.T, args ...string) load.Comparison {
	t.Helper()
	var out, errOut strings.Builder
	args = append([]string{"bench", "--sessions", "4", "--duration", "300ms", "--warmup", "100ms", "--json"}, args...)
	if code := run(context.Background(), args, nil, &out, &errOut); code != 0 {
		t.Fatalf("toolgate %s = %d\n%s", strings.Join(args, " "), code, errOut.String())
	}
	var c load.Comparison
	if err := json.Unmarshal([]byte(out.String()), &c); err != nil {
		t.Fatalf("bench printed %q: %v", out.String(), err)
	}
	if c.Direct.Calls == 0 || c.Through.Calls == 0 || c.Direct.Errors != 0 || c.Through.Errors != 0 || c.ThroughputRatio <= 0 {
		t.Errorf("bench = %+v; want calls through both and no errors", c)
	}
	return c
}

// TestBench runs the load tool briefly: a built-in upstream measured
// directly and through a built-in gateway, then through three replicas
// sharing Redis and PostgreSQL.
func TestBench(t *testing.T) {
	benchJSON(t)
	redisURL, pgURL := os.Getenv("TOOLGATE_TEST_REDIS"), os.Getenv("TOOLGATE_TEST_POSTGRES")
	if redisURL == "" || pgURL == "" {
		t.Skip("set TOOLGATE_TEST_REDIS and TOOLGATE_TEST_POSTGRES to measure replicas")
	}
	c := benchJSON(t, "--replicas", "3", "--redis", redisURL, "--postgres", pgURL, "--postgres-schema", "toolgate_bench_test")
	if c.Through.Sessions != 4 {
		t.Errorf("sessions through three replicas = %d; want 4", c.Through.Sessions)
	}
	var errOut strings.Builder
	if code := run(context.Background(), []string{"bench", "--replicas", "3"}, nil, &strings.Builder{}, &errOut); code != 1 || !strings.Contains(errOut.String(), "--redis and --postgres") {
		t.Errorf("bench --replicas 3 without stores = %d %q", code, errOut.String())
	}
}
