package load

import (
	"math"
	"math/bits"
	"time"
)

// The histogram is log-linear, as in HdrHistogram: values below 2·subCount
// nanoseconds each have their own bucket, and every power of two above that is
// split into subCount buckets, so a bucket is never wider than 1/subCount of
// its values (0.8%: under 1 µs at 100 µs). It spans every time.Duration in a
// fixed 57 KiB, so recording never allocates and a run of any length costs the
// same memory.
const (
	subBits  = 7
	subCount = 1 << subBits
	exact    = 2 * subCount
	nBuckets = exact + (64-subBits-2)*subCount
)

// hist counts latencies. The zero value is empty and ready to use. It is not
// safe for concurrent use: each session records into its own, and they are
// merged when the run is over.
type hist struct {
	counts [nBuckets]uint64
	n      uint64
	max    time.Duration
}

func bucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < exact {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	top := v >> shift
	return exact + (shift-1)*subCount + int(top-subCount)
}

// upper returns the largest value that falls in bucket i.
func upper(i int) time.Duration {
	if i < exact {
		return time.Duration(i)
	}
	shift := (i-exact)/subCount + 1
	top := uint64((i-exact)%subCount + subCount)
	return time.Duration((top+1)<<shift - 1)
}

func (h *hist) record(d time.Duration) {
	h.counts[bucket(d)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the smallest
// recorded value that at least q of the values do not exceed, rounded up to
// the end of its bucket but never past the largest value recorded. It returns
// zero for an empty histogram.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	// The epsilon keeps q·n from rounding up past a whole rank.
	rank := uint64(math.Ceil(q*float64(h.n) - 1e-9))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(upper(i), h.max)
		}
	}
	return h.max
}
