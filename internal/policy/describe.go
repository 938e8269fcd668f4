package policy

import (
	"fmt"
	"strings"
	"time"
)

// Describe says in a few words what the policy does with calls of tool,
// for people reading a scan or the console: "allow", "deny (default)",
// "hide", "approve", "allow, 30/minute per grant", "allow if 1 condition
// holds; approve if 1 condition holds".
func (p *Policy) Describe(tool string) string {
	r := p.rule(tool)
	var b strings.Builder
	switch r.final.Outcome {
	case Hidden:
		return "hide"
	case Deny:
		if r == p.deflt {
			return "deny (default)"
		}
		return "deny"
	case Approve:
		b.WriteString("approve")
	default:
		b.WriteString("allow")
	}
	if n := len(r.require) + len(r.denyIf); n > 0 {
		fmt.Fprintf(&b, " if %d %s", n, plural(n, "condition holds", "conditions hold"))
	}
	for _, l := range r.final.Limits {
		fmt.Fprintf(&b, ", %d/%s per %s", l.Max, windowWord(l.Window), l.Scope)
	}
	if n := len(r.approveIf); n > 0 {
		fmt.Fprintf(&b, "; approve if %d %s", n, plural(n, "condition holds", "conditions hold"))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// windowWord names a window the way policies write it.
func windowWord(d time.Duration) string {
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
