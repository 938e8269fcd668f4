package gateway

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/limit"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/proxy"
)

// budgetID identifies a budget before its key is spelled out.
type budgetID struct {
	server string
	limit  *policy.Limit
	who    string
}

// budgetKeys caches spelled-out budget keys, so that charging a call
// allocates nothing in the common case. It is dropped whole when it grows
// large (sessions come and go), which costs only the re-spelling.
type budgetKeys struct {
	m atomic.Pointer[sync.Map]
	n atomic.Int64
}

const maxBudgetKeys = 1 << 14

func (c *budgetKeys) get(id budgetID) string {
	m := c.m.Load()
	if m == nil {
		m = new(sync.Map)
		if !c.m.CompareAndSwap(nil, m) {
			m = c.m.Load()
		}
	}
	if k, ok := m.Load(id); ok {
		return k.(string)
	}
	k := id.server + "|" + id.limit.Key() + "|" + id.who
	if _, loaded := m.LoadOrStore(id, k); !loaded && c.n.Add(1) > maxBudgetKeys {
		c.m.Store(new(sync.Map))
		c.n.Store(0)
	}
	return k
}

// budgetKey names the budget a limit spends from for one call: the server,
// the limit's identity (counter, scope, window, max: a reload that keeps a
// limit keeps its budget) and the scope's value.
func budgetKey(server string, l *policy.Limit, id *Identity, s *proxy.Session) string {
	return defaultBudgetKeys.get(budgetIDOf(server, l, id, s))
}

var defaultBudgetKeys budgetKeys

func budgetIDOf(server string, l *policy.Limit, id *Identity, s *proxy.Session) budgetID {
	var who string
	switch l.Scope {
	case policy.ScopeGrant:
		who, _ = grantKey(id)
	case policy.ScopeSession:
		who = s.ID
	case policy.ScopeUser:
		if id != nil {
			who = id.User
		}
	}
	// Without an identity (auth "none") everyone shares the budget: the
	// safe reading of a per-agent limit when agents cannot be told apart.
	if who == "" && l.Scope != policy.ScopeServer {
		who = "-"
	}
	return budgetID{server: server, limit: l, who: who}
}

// scopeLabel describes a budget's owner for people (counters, denials).
func scopeLabel(l *policy.Limit, id *Identity, s *proxy.Session) string {
	switch l.Scope {
	case policy.ScopeGrant:
		if id != nil && id.Grant != nil {
			return "grant " + id.Grant.Label
		}
		return "grant"
	case policy.ScopeSession:
		return "session"
	case policy.ScopeUser:
		return "user"
	}
	return "server"
}

// charge spends the call's cost from every budget its decision names, all
// or none. It returns nil when the call may go on, or the result to return
// instead: a limit reached, a cost that cannot be computed, or a store that
// cannot be reached (closed unless fail-open is configured).
func (e *enforcer) charge(ctx context.Context, c *proxy.Call, in *policy.Input, d *policy.Decision, id *Identity, o *outcome) *mcp.CallToolResult {
	if len(d.Limits) == 0 {
		return nil
	}
	name := c.Params.Name
	charges := make([]limit.Charge, len(d.Limits))
	for i, l := range d.Limits {
		cost, err := l.Cost(in)
		if err != nil {
			e.logger.Info("call denied: cost could not be computed", "tool", name, "rule", l.Rule, "error", err)
			return o.deny(denial(name, "the limit's cost could not be computed for these arguments", l.Rule))
		}
		charges[i] = limit.Charge{Key: budgetKey(e.server, l, id, c.Session), Window: l.Window, Max: l.Max, Cost: cost}
	}
	uses := make([]audit.CounterUse, len(d.Limits))
	for i, l := range d.Limits {
		uses[i] = audit.CounterUse{Counter: l.Counter, Rule: l.Rule, Scope: l.Scope.String(), Key: charges[i].Key, Cost: charges[i].Cost, Max: l.Max, Window: l.Window}
	}
	res, err := e.g.limits.Take(ctx, e.g.now(), charges)
	if err != nil {
		if e.g.failOpen() {
			e.logger.Error("limit store unavailable; call admitted (fail_open)", "tool", name, "error", err)
			o.counters = uses
			return nil
		}
		e.logger.Error("limit store unavailable; call refused", "tool", name, "error", err)
		return o.deny(denial(name, "rate limits cannot be checked right now (the budget store is unavailable); retry shortly", d.Limits[0].Rule))
	}
	if res.OK {
		o.counters = uses
		return nil
	}
	l := d.Limits[res.Denied]
	var reason string
	retry := -1
	if res.RetryAfter == limit.Never {
		reason = fmt.Sprintf("this call's cost (%d) exceeds limit %s (at most %d per %s) and can never be admitted",
			charges[res.Denied].Cost, l.Counter, l.Max, window(l.Window))
	} else {
		retry = int(math.Ceil(res.RetryAfter.Seconds()))
		reason = fmt.Sprintf("limit %s reached (at most %d per %s for this %s); retry in %d s",
			l.Counter, l.Max, window(l.Window), scopeLabel(l, id, c.Session), retry)
	}
	e.logger.Info("call limited", "tool", name, "rule", l.Rule, "counter", l.Counter, "retry_after_s", retry)
	r := denial(name, reason, l.Rule)
	meta := r.Meta["toolgate/decision"].(map[string]any)
	meta["decision"] = "limited"
	meta["counter"] = l.Counter
	meta["retry_after_seconds"] = retry
	e.g.metrics.Refused(e.server, l.Counter, l.Scope.String())
	o.deny(r)
	// Only the budget that refused the call is recorded: the others were
	// not spent.
	refused := uses[res.Denied]
	refused.Denied = true
	o.counters = []audit.CounterUse{refused}
	return r
}

// window describes a window for people: "minute", "90s".
func window(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	case 24 * time.Hour:
		return "day"
	}
	return d.String()
}
