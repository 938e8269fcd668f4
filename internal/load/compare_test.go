package load

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name            string
		direct, through *Result
		want            Comparison
	}{
		{
			name:    "gateway slower",
			direct:  &Result{Throughput: 10000, P50: 500 * time.Microsecond, P99: 2 * time.Millisecond},
			through: &Result{Throughput: 7500, P50: 620 * time.Microsecond, P99: 2500 * time.Microsecond},
			want:    Comparison{ThroughputRatio: 0.75, AddedP50: 120 * time.Microsecond, AddedP99: 500 * time.Microsecond},
		},
		{
			name:    "gateway faster",
			direct:  &Result{Throughput: 1000, P50: time.Millisecond, P99: 3 * time.Millisecond},
			through: &Result{Throughput: 1250, P50: 900 * time.Microsecond, P99: 2 * time.Millisecond},
			want:    Comparison{ThroughputRatio: 1.25, AddedP50: -100 * time.Microsecond, AddedP99: -time.Millisecond},
		},
		{
			name:    "no direct call",
			direct:  &Result{Calls: 5, Errors: 5},
			through: &Result{Throughput: 800, P50: time.Millisecond, P99: time.Millisecond},
			want:    Comparison{ThroughputRatio: 0, AddedP50: time.Millisecond, AddedP99: time.Millisecond},
		},
		{
			name:    "nil through",
			direct:  &Result{Throughput: 800, P50: time.Millisecond, P99: 2 * time.Millisecond},
			through: nil,
			want:    Comparison{ThroughputRatio: 0, AddedP50: -time.Millisecond, AddedP99: -2 * time.Millisecond},
		},
		{
			name: "both nil",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Compare(tc.direct, tc.through)
			if tc.direct != nil {
				tc.want.Direct = *tc.direct
			}
			if tc.through != nil {
				tc.want.Through = *tc.through
			}
			if got != tc.want {
				t.Errorf("Compare(%+v, %+v) = %+v; want %+v", tc.direct, tc.through, got, tc.want)
			}
		})
	}
}

// comparisons are the cases of the golden files, one file per case and form.
var comparisons = []struct {
	name string
	c    Comparison
}{
	{"typical", Compare(
		&Result{Sessions: 8, Calls: 61728, Elapsed: 5 * time.Second, Throughput: 12345.6,
			P50: 612 * time.Microsecond, P90: 1100 * time.Microsecond, P99: 1930 * time.Microsecond, Max: 7 * time.Millisecond},
		&Result{Sessions: 8, Calls: 43827, Elapsed: 5 * time.Second, Throughput: 8765.4,
			P50: 734 * time.Microsecond, P90: 1400 * time.Microsecond, P99: 2410 * time.Microsecond, Max: 9 * time.Millisecond},
	)},
	{"errors", Compare(
		&Result{Sessions: 8, Calls: 0, Errors: 0},
		&Result{Sessions: 8, Calls: 1200, Errors: 1200,
			FirstError: "tools/call echo: tool error: echo is rate-limited:\nretry in 12s"},
	)},
}

func TestWriteTableGolden(t *testing.T) {
	for _, tc := range comparisons {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.c.WriteTable(&b); err != nil {
				t.Fatalf("WriteTable: %v", err)
			}
			golden(t, filepath.Join("testdata", "table_"+tc.name+".golden"), b.Bytes())
		})
	}
}

func TestWriteJSONGolden(t *testing.T) {
	for _, tc := range comparisons {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.c.WriteJSON(&b); err != nil {
				t.Fatalf("WriteJSON: %v", err)
			}
			golden(t, filepath.Join("testdata", "json_"+tc.name+".golden"), b.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
