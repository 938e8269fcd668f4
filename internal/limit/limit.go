// Package limit keeps the budgets that rate limits spend from (DESIGN.md §1):
// in any span of a limit's window, the calls admitted against it spend at
// most its max — exactly, under any concurrency.
//
// A Store admits a call's charges all or nothing: a call counts against
// every limit that applies to it (the policy's all_tools limits and the
// tool's own), and if one budget cannot take its charge, none is spent. A
// charge is spent when Take admits it, which the gateway does just before it
// forwards the call; a call denied for any reason spends nothing.
//
// # Algorithm
//
// Every store keeps a sliding log per budget: the time and cost of each
// admission. A charge of cost c is admitted at time now when
//
//	sum of the costs logged in (now-window, now] + c <= max
//
// so an entry logged at t stops counting at exactly t+window. Unlike fixed
// calendar windows, which admit up to twice the max across a boundary, this
// holds for every span of window length, not only for aligned ones. A denial
// says how long until the charge fits: the time at which enough of the oldest
// entries have left the window, which is exact because the log is. A cost
// larger than max never fits (RetryAfter is Never). Entries logged at the
// same instant are merged, and an entry is never logged before the newest
// one of its budget (a caller whose clock reading is late logs at the newest
// entry's time instead), so logs stay sorted; entries logged after now, by a
// caller whose clock is ahead, still count, which keeps the guarantee when
// concurrent callers read the clock out of order. Each entry is dropped
// once, so a Take costs O(1) amortized per charge, plus, when denied, the
// walk over the entries it waits for.
//
// Time is the store's: the now passed to Take (nanoseconds) for Memory and
// sqlitelimit, the Redis server's clock (microseconds) for redislimit by
// default. Tests pass their own now.
//
// # Memory
//
// Entries that have left the window are dropped when their budget is next
// touched, so a budget holds at most min(max, admissions in the last
// window) live entries, each costing at least 1 (zero-cost charges log
// nothing). Budgets left with no live entry are deleted too, lazily: see
// Memory and the backends for when.
//
// # Backends
//
// Memory, in this package, serves a single process. The subpackages hold the
// backends with heavier dependencies: sqlitelimit (the embedded store in the
// gateway's state directory, surviving restarts) and redislimit (shared by
// several gateway replicas). limittest is the contract every Store passes.
package limit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Charge is what one call spends from one budget.
type Charge struct {
	// Key is the budget's identity, built by the caller from the limit's
	// counter, scope and scope value, e.g.
	// "provision_applications_rate|grant|ci-runner". It is opaque to the
	// store. Charges that share a Key share one budget and must carry the
	// same Window: a budget keeps its entries only as long as the window of
	// the charge that last touched it.
	Key string
	// Window is the length of the sliding window, in (0, MaxWindow].
	Window time.Duration
	// Max is the most the admitted charges may spend in any span of
	// Window; it must be in [0, MaxBudget].
	Max int64
	// Cost is what this call spends; it must not be negative. A zero cost
	// always passes and logs nothing; a cost above Max never passes.
	Cost int64
}

// MaxBudget is the largest Max a charge may carry. It keeps every sum a
// store computes exact, including in backends whose numbers are float64
// (Redis scripts): three such values still add up below 2^53.
const MaxBudget = 1 << 50

// MaxWindow is the longest Window a charge may carry, a hundred years: it
// keeps times plus windows within int64 nanoseconds, and exact in float64
// microseconds.
const MaxWindow = 100 * 365 * 24 * time.Hour

// Never is the RetryAfter of a charge that can never be admitted, because
// its cost alone, or together with the charges before it in the same Take
// on the same budget, exceeds the budget's max.
const Never time.Duration = -1

// Result is the outcome of a Take. The zero Result is a denial of the first
// charge with no wait, which no store returns; check OK.
type Result struct {
	// OK reports whether every charge was admitted (and spent).
	OK bool
	// Denied is, when !OK, the index of the first charge that could not be
	// admitted.
	Denied int
	// RetryAfter is, when !OK, how long until that charge alone could be
	// admitted if nothing else is spent from its budget meanwhile, or Never.
	// Other charges of the same Take may still be short then.
	RetryAfter time.Duration
}

// Usage is the state of one budget in use, as reported by Store.Usage.
type Usage struct {
	Key string
	// Used is what the admissions in the current window have spent.
	Used int64
	// Max and Window are those of the charge that last spent from the
	// budget.
	Max    int64
	Window time.Duration
	// NextFree is how long until the oldest entry leaves the window, giving
	// back its cost.
	NextFree time.Duration
}

// Store holds budgets and admits charges against them. Implementations are
// safe for concurrent use, by any number of goroutines and, for shared
// backends, of processes.
type Store interface {
	// Take admits all of charges or none of them, at time now. It spends
	// nothing and returns a Result with OK false when one of them does not
	// fit. It returns an error (and a zero Result) when a charge is invalid
	// (ErrInvalid), when the store is closed (ErrClosed), or when the
	// backend fails; the caller should then refuse the call. An empty
	// charges admits.
	Take(ctx context.Context, now time.Time, charges []Charge) (Result, error)
	// Usage reports, sorted by key, the budgets whose key starts with prefix
	// ("" for all) that have spending in the window ending at now.
	Usage(ctx context.Context, now time.Time, prefix string) ([]Usage, error)
	// Close releases the store's resources. Take and Usage fail after it;
	// calling Close again returns nil.
	Close() error
}

// Admission is one charge as a store logs it: what Take admitted, and when.
type Admission struct {
	Key    string
	Window time.Duration
	Max    int64
	// At is the time the entry is logged at: the Take's now, or the time of
	// the newest entry of the budget when that is later.
	At   time.Time
	Cost int64
}

var (
	// ErrInvalid is returned, wrapped, by Take for a charge with a Window
	// outside (0, MaxWindow], a Max outside [0, MaxBudget] or a negative
	// Cost.
	ErrInvalid = errors.New("invalid charge")
	// ErrClosed is returned by a store's methods after Close.
	ErrClosed = errors.New("limit store closed")
)

// Check returns an error wrapping ErrInvalid for the first invalid charge,
// or nil. Stores call it first in Take; a cost above Max is not invalid, it
// is a denial.
func Check(charges []Charge) error {
	for i := range charges {
		c := &charges[i]
		switch {
		case c.Window <= 0 || c.Window > MaxWindow:
			return fmt.Errorf("%w %d (%q): window %v is outside (0, %v]", ErrInvalid, i, c.Key, c.Window, MaxWindow)
		case c.Max < 0 || c.Max > MaxBudget:
			return fmt.Errorf("%w %d (%q): max %d is outside [0, %d]", ErrInvalid, i, c.Key, c.Max, int64(MaxBudget))
		case c.Cost < 0:
			return fmt.Errorf("%w %d (%q): cost %d is negative", ErrInvalid, i, c.Key, c.Cost)
		}
	}
	return nil
}
