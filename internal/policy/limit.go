package policy

import (
	"fmt"
	"strconv"
	"time"
)

// Limit is a budget a call spends from: in any span of Window, the calls
// admitted against it spend at most Max. Limits with the same Counter and
// Scope share one budget, across tools. A Limit is immutable after Parse and
// safe for concurrent use; its fields must not be modified.
type Limit struct {
	// Rule is the limit's JSON pointer: "/all_tools/limits/0",
	// "/tools/NAME/limits/1" or "/tools/NAME/rate_limit".
	Rule    string
	Counter string
	Window  time.Duration
	Max     int64
	Scope   Scope

	cost *expr // nil: every call costs 1
	key  string
}

// Cost returns what the call in spends: the value of the limit's cost
// expression, or 1 when it has none. It fails when the expression cannot be
// evaluated or its value is not a non-negative integer; the caller should
// then refuse the call, as for any condition that cannot be evaluated.
func (l *Limit) Cost(in *Input) (int64, error) {
	if l.cost == nil {
		return 1, nil
	}
	if in == nil {
		in = &Input{}
	}
	n, err := l.cost.int(in)
	if err != nil {
		return 0, fmt.Errorf("cost of %s (%s): %w", l.Rule, l.cost.text, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("cost of %s (%s): negative cost %d", l.Rule, l.cost.text, n)
	}
	return n, nil
}

// Key returns a stable identity of the limit's budget: its counter, scope,
// window and max. A reload keeps the counters of limits whose key is
// unchanged.
func (l *Limit) Key() string { return l.key }

func limitKey(counter string, scope Scope, window time.Duration, max int64) string {
	return strconv.Quote(counter) + " " + scope.String() + " " + window.String() + " " + strconv.FormatInt(max, 10)
}
