// Package policy parses, validates and evaluates Toolgate policy documents
// (DESIGN.md §1): which tools an agent may call, on which conditions, within
// which limits, and which calls wait for a human.
//
// The package is pure: it does no I/O, reads no clock and logs nothing. Parse
// reports every problem of a document at once, positioned as file:line:col.
// Decide evaluates one call; it applies no limits itself but returns those
// the call counts against, for the gateway to apply.
//
// Rules are found by tool name: an exact name first, then the glob patterns
// (path.Match syntax) that match, the most specific first — the longest
// pattern, and among patterns of the same length the first in the document.
// Names listed in hide, exact or glob, are hidden whatever the rules say. A
// document without default denies what it does not name: it fails closed.
// The rate_limit of a rule NAME counts on counter NAME_rate, so all the
// tools a glob rule matches share one budget.
//
// Conditions (require, deny_if, approve_if) and costs are CEL expressions
// over args, tool, server, grant, session and user. Whole JSON numbers are
// CEL ints, so args.amount > 10000 and size(args.ids) * args.n work on
// arguments decoded from JSON. Expressions are compiled and type-checked by
// Parse; at run time each evaluation is bounded (CEL cost and at most 2000
// loop iterations), and one that fails or exceeds a bound fails closed.
package policy

import (
	"path"
	"time"
)

// Outcome is what a decision does with a call.
type Outcome uint8

// The outcomes. The zero Outcome is Deny, so a zero Decision refuses a call.
const (
	// Deny refuses the call with an error result the agent can read.
	Deny Outcome = iota
	// Allow forwards the call, once the decision's limits admit it.
	Allow
	// Hidden refuses the call exactly as for an unknown tool.
	Hidden
	// Approve holds the call until a human approves it (and the limits
	// admit it) or it times out.
	Approve
)

var outcomeNames = [...]string{"deny", "allow", "hidden", "approve"}

// String returns "deny", "allow", "hidden" or "approve".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "invalid"
}

// MarshalText encodes o as its String.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Scope says whose budget a limit counts: each grant (agent credential),
// session, authenticated user, or one budget for the whole server.
type Scope uint8

// The scopes. The zero Scope is ScopeGrant, the default.
const (
	ScopeGrant Scope = iota
	ScopeSession
	ScopeUser
	ScopeServer
)

var scopeNames = [...]string{"grant", "session", "user", "server"}

// String returns "grant", "session", "user" or "server".
func (s Scope) String() string {
	if int(s) < len(scopeNames) {
		return scopeNames[s]
	}
	return "invalid"
}

// MarshalText encodes s as its String.
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Input is one tools/call, as the policy sees it. Decide only reads it.
type Input struct {
	Server, Tool string
	// Args are the call's decoded arguments (nil when none), as
	// encoding/json decodes them: numbers are float64.
	Args map[string]any
	// Grant describes the agent credential, e.g. {"id": …, "label": …};
	// nil when authentication is off.
	Grant map[string]any
	// Session describes the MCP session, e.g. {"id": …}.
	Session map[string]any
	// User is the authenticated end user, "" when none.
	User string
}

// Decision is the policy's verdict on one call. Its slices and pointers are
// shared with the Policy and other decisions: callers must not modify them.
type Decision struct {
	Outcome Outcome
	// Rule is the JSON pointer of the rule that decided: "/hide/0",
	// "/default", "/tools/NAME" (allowed by its rule),
	// "/tools/NAME/action", "/tools/NAME/deny_if/1", ….
	Rule string
	// Reason is one line for the agent: the rule's reason, or a generated
	// one. It names neither the tool nor any file; the gateway adds the tool.
	Reason string
	// Limits are, for Allow and Approve, the limits the call counts against:
	// those of all_tools first, then the tool's, in document order.
	Limits []*Limit
	// Approval is set for Approve.
	Approval *Approval
}

// Approval says how to hold a call for a human.
type Approval struct {
	// Rule is the JSON pointer of what demanded approval:
	// "/tools/NAME/action" or "/tools/NAME/approve_if/0".
	Rule string
	// Timeout is how long to wait for a human before the call fails: the
	// rule's timeout, 2 minutes by default.
	Timeout time.Duration
	// Elicit asks the calling client's user to decide, through MCP
	// elicitation, when the client supports it (the rule's "elicit": true).
	Elicit bool
}

// DefaultApprovalTimeout is how long an approval waits when the rule does
// not say.
const DefaultApprovalTimeout = 2 * time.Minute

// Policy is a parsed, validated policy document. It is immutable and safe
// for concurrent use. The zero Policy is not usable; call Parse.
type Policy struct {
	name   string
	exact  map[string]*rule // tool name → rule, hidden names included
	hide   []*rule          // hide globs, in document order
	globs  []*rule          // tool rule globs, most specific first
	deflt  *rule            // for tools nothing names
	limits []*Limit         // every limit, in document order
}

// Name returns the name the policy was parsed under (its file name).
func (p *Policy) Name() string { return p.name }

// Limits returns every limit of the document, all_tools first, then the
// tools' in document order, so that a reload can carry the counters of
// unchanged limits over (see Limit.Key). The slice is a copy; the limits are
// shared and must not be modified.
func (p *Policy) Limits() []*Limit {
	return append([]*Limit(nil), p.limits...)
}

// Decide evaluates one call in the order of DESIGN.md §1: hidden, unknown
// under default deny, action, require and deny_if, approve_if and approve.
// Limits are not applied but returned. A condition that fails to evaluate
// fails closed: require and deny_if deny, approve_if holds for approval.
// A nil in is an empty Input.
func (p *Policy) Decide(in *Input) Decision {
	if in == nil {
		in = &Input{}
	}
	return p.rule(in.Tool).decide(in)
}

// Listed reports whether tools/list shows tool (DESIGN.md §2): it does for
// tools that may be called (allowed, even with conditions, limits or
// approval) and tools denied with a reason; it does not for hidden tools,
// tools denied without a reason, and tools denied only by default: deny.
func (p *Policy) Listed(tool string) bool {
	return p.rule(tool).listed
}

// rule returns the rule that governs tool.
func (p *Policy) rule(tool string) *rule {
	if r, ok := p.exact[tool]; ok {
		return r
	}
	for _, r := range p.hide {
		if ok, _ := path.Match(r.name, tool); ok {
			return r
		}
	}
	for _, r := range p.globs {
		if ok, _ := path.Match(r.name, tool); ok {
			return r
		}
	}
	return p.deflt
}

// rule is what the policy does with the tools one name or pattern matches:
// a tool rule, a hide entry or the default.
type rule struct {
	name   string // the tool name or glob
	listed bool
	// final is the decision when no condition stops the call; for deny,
	// hide and the default it is the only one.
	final     Decision
	require   []*expr
	denyIf    []*expr
	approveIf []*expr
}

// decide evaluates the rule's conditions. Beyond CEL's evaluation it
// allocates nothing, except the reason for a condition that could not be
// evaluated.
func (r *rule) decide(in *Input) Decision {
	for _, e := range r.require {
		ok, err := e.cond(in)
		switch {
		case err != nil:
			return Decision{Outcome: Deny, Rule: e.ptr, Reason: evalError(e, err)}
		case !ok:
			return Decision{Outcome: Deny, Rule: e.ptr, Reason: e.reason}
		}
	}
	for _, e := range r.denyIf {
		ok, err := e.cond(in)
		switch {
		case err != nil:
			return Decision{Outcome: Deny, Rule: e.ptr, Reason: evalError(e, err)}
		case ok:
			return Decision{Outcome: Deny, Rule: e.ptr, Reason: e.reason}
		}
	}
	for _, e := range r.approveIf {
		ok, err := e.cond(in)
		switch {
		case err != nil:
			return Decision{Outcome: Approve, Rule: e.ptr, Reason: evalError(e, err), Limits: r.final.Limits, Approval: e.approval}
		case ok:
			return Decision{Outcome: Approve, Rule: e.ptr, Reason: e.reason, Limits: r.final.Limits, Approval: e.approval}
		}
	}
	return r.final
}
