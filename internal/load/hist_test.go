package load

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 255, 256, 257, 511, 512, 1000, 123456, time.Second, time.Hour, 1<<63 - 1} {
		i := bucket(d)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucket(%d) = %d; want 0 ≤ i < %d", d, i, nBuckets)
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = upper(i-1) + 1
		}
		if d < lo || d > upper(i) {
			t.Errorf("bucket(%d) = %d, spanning [%d, %d]; want it to hold %d", d, i, lo, upper(i), d)
		}
		if width := upper(i) - lo + 1; d >= exact && float64(width)/float64(d) > 1.0/subCount {
			t.Errorf("bucket(%d) is %d wide; want at most 1/%d of the value", d, width, subCount)
		}
	}
	if got := upper(nBuckets - 1); got != 1<<63-1 {
		t.Errorf("upper(last bucket) = %d; want the largest Duration", got)
	}
}

// TestQuantile compares the histogram with exact nearest-rank quantiles of
// the sorted samples.
func TestQuantile(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name    string
		samples []time.Duration
	}{
		{"one", []time.Duration{42 * time.Microsecond}},
		{"small exact", []time.Duration{3, 1, 2, 5, 4, 200, 100}},
		{"uniform", randomSamples(10000, func() time.Duration { return time.Duration(r.Int64N(int64(10 * time.Millisecond))) })},
		{"long tail", randomSamples(10000, func() time.Duration {
			return time.Duration(r.ExpFloat64() * float64(300*time.Microsecond))
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h hist
			for _, d := range tc.samples {
				h.record(d)
			}
			sorted := slices.Sorted(slices.Values(tc.samples))
			for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 1} {
				rank := max(int(math.Ceil(q*float64(len(sorted))-1e-9)), 1)
				want := sorted[rank-1]
				got := h.quantile(q)
				if got < want || float64(got-want) > float64(want)/subCount {
					t.Errorf("quantile(%v) = %v; want %v, rounded up by at most 1/%d", q, got, want, subCount)
				}
			}
			if h.max != sorted[len(sorted)-1] {
				t.Errorf("max = %v; want %v", h.max, sorted[len(sorted)-1])
			}
		})
	}
	var empty hist
	if got := empty.quantile(0.5); got != 0 {
		t.Errorf("quantile of an empty histogram = %v; want 0", got)
	}
}

func randomSamples(n int, f func() time.Duration) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = f()
	}
	return s
}

func TestMerge(t *testing.T) {
	var a, b, all hist
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		all.record(d)
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	if a != all {
		t.Errorf("merging two halves differs from recording the whole")
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	var h hist
	if n := testing.AllocsPerRun(1000, func() { h.record(123 * time.Microsecond) }); n != 0 {
		t.Errorf("record allocates %v times; want 0", n)
	}
}
