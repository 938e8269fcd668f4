package policy

import (
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"

	"github.com/toolgate/toolgate/internal/source"
)

// Generated reasons. They name no tool: the gateway adds it.
const (
	reasonDefault  = "not allowed by policy"
	reasonDenied   = "denied by policy"
	reasonHidden   = "hidden by policy"
	reasonApproval = "requires approval"
)

var ruleFields = []string{
	"action", "reason", "on_deny", "limits", "rate_limit",
	"require", "deny_if", "approve_if", "timeout", "elicit",
}

// Parse parses and validates a policy document, JSON or YAML (see
// source.Parse); name is used in positions and returned by Policy.Name.
// When the document has problems, Parse returns a nil Policy and a
// source.Errors that lists every one of them, sorted by position.
func Parse(name string, data []byte) (*Policy, error) {
	var d source.Decoder
	root, err := source.Parse(name, data)
	d.Add(err)
	if root == nil {
		return nil, d.Err()
	}
	b := &builder{d: &d, p: &Policy{name: name, exact: make(map[string]*rule)}}
	b.document(root)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return b.p, nil
}

// builder builds a Policy, recording problems in d as it goes; the Policy is
// used only when there are none.
type builder struct {
	d        *source.Decoder
	p        *Policy
	allTools []*Limit
}

func (b *builder) document(root *source.Node) {
	f := b.d.Fields(root, "version", "default", "hide", "all_tools", "tools")
	if f == nil {
		return
	}
	b.d.Require(root, f, "version")
	if n := f["version"]; n != nil {
		if n.Kind == source.Number {
			b.d.Errorf(n.Pos, `version must be the string "1", not a number`)
		} else if s, ok := b.d.String(n); ok && s != "1" {
			b.d.Errorf(n.Pos, `unsupported version %q (want "1")`, s)
		}
	}
	// Without a default, what the document does not name is denied: a
	// policy fails closed.
	deny := true
	if s, ok := b.d.OneOf(f["default"], "allow", "deny"); ok {
		deny = s == "deny"
	}
	if n := f["all_tools"]; n != nil {
		b.allTools = b.limitList(b.d.Fields(n, "limits")["limits"])
	}
	b.p.deflt = &rule{listed: true, final: Decision{Outcome: Allow, Rule: "/default", Limits: b.allTools}}
	if deny {
		b.p.deflt = &rule{final: Decision{Outcome: Deny, Rule: "/default", Reason: reasonDefault}}
	}
	b.hide(f["hide"])
	b.tools(f["tools"])
}

// isGlob reports whether a tool name is a path.Match pattern.
func isGlob(name string) bool {
	return strings.ContainsAny(name, `*?[\`)
}

// toolName checks a tool name or glob.
func (b *builder) toolName(name string, pos source.Pos) bool {
	if name == "" {
		b.d.Errorf(pos, "empty tool name")
		return false
	}
	if _, err := path.Match(name, ""); err != nil {
		b.d.Errorf(pos, "invalid glob %q: %v", name, err)
		return false
	}
	return true
}

func (b *builder) hide(n *source.Node) {
	for _, item := range b.d.Items(n) {
		name, ok := b.d.String(item)
		if !ok || !b.toolName(name, item.Pos) {
			continue
		}
		r := &rule{name: name, final: Decision{Outcome: Hidden, Rule: item.Pointer, Reason: reasonHidden}}
		if isGlob(name) {
			b.p.hide = append(b.p.hide, r)
		} else if _, dup := b.p.exact[name]; !dup {
			b.p.exact[name] = r
		}
	}
}

func (b *builder) tools(n *source.Node) {
	for _, f := range b.d.Members(n) {
		if !b.toolName(f.Key, f.KeyPos) {
			continue
		}
		r := b.rule(f.Key, f.Value)
		switch {
		case isGlob(f.Key):
			b.p.globs = append(b.p.globs, r)
		case b.p.exact[f.Key] != nil:
			// Hidden by name; hide comes first.
		default:
			b.p.exact[f.Key] = r
			for _, h := range b.p.hide {
				if ok, _ := path.Match(h.name, f.Key); ok {
					b.p.exact[f.Key] = h
					break
				}
			}
		}
	}
	// Most specific first: the longest pattern, then document order.
	slices.SortStableFunc(b.p.globs, func(x, y *rule) int { return len(y.name) - len(x.name) })
}

// rule builds the rule for the tools called name (a name or a glob).
func (b *builder) rule(name string, n *source.Node) *rule {
	f := b.d.Fields(n, ruleFields...)
	r := &rule{name: name}
	if f == nil {
		return r
	}
	action := "allow"
	if s, ok := b.d.OneOf(f["action"], "allow", "deny", "hide", "approve", "require_approval"); ok {
		action = s
	}
	reason := b.reason(f["reason"], f["on_deny"])

	limits := slices.Clip(b.allTools)
	limits = append(limits, b.limitList(f["limits"])...)
	if rl := f["rate_limit"]; rl != nil {
		if l := b.limit(rl, name+"_rate"); l != nil {
			limits = append(limits, l)
		}
	}
	timeout := DefaultApprovalTimeout
	if t, ok := b.duration(f["timeout"]); ok {
		timeout = t
	}
	elicit, _ := b.d.Bool(f["elicit"])

	orReason := func(generated string) string {
		if reason != "" {
			return reason
		}
		return generated
	}
	for _, e := range b.conditions(f["require"]) {
		e.reason = orReason("requirement not met: " + e.text)
		r.require = append(r.require, e)
	}
	for _, e := range b.conditions(f["deny_if"]) {
		e.reason = orReason("denied by condition: " + e.text)
		r.denyIf = append(r.denyIf, e)
	}
	for _, e := range b.conditions(f["approve_if"]) {
		e.reason = reasonApproval + ": " + e.text
		e.approval = &Approval{Rule: e.ptr, Timeout: timeout, Elicit: elicit}
		r.approveIf = append(r.approveIf, e)
	}

	switch action {
	case "deny":
		r.final = Decision{Outcome: Deny, Rule: f["action"].Pointer, Reason: orReason(reasonDenied)}
		r.listed = reason != ""
	case "hide":
		r.final = Decision{Outcome: Hidden, Rule: f["action"].Pointer, Reason: reasonHidden}
	case "approve", "require_approval":
		ptr := f["action"].Pointer
		r.final = Decision{Outcome: Approve, Rule: ptr, Reason: reasonApproval, Limits: limits, Approval: &Approval{Rule: ptr, Timeout: timeout, Elicit: elicit}}
		r.listed = true
	default:
		r.final = Decision{Outcome: Allow, Rule: n.Pointer, Limits: limits}
		r.listed = true
	}
	if r.final.Outcome == Deny || r.final.Outcome == Hidden {
		// Nothing more to evaluate: the action stops every call.
		r.require, r.denyIf, r.approveIf = nil, nil, nil
	}
	return r
}

// reason reads a rule's reason, given as reason or its alias on_deny.
func (b *builder) reason(n, alias *source.Node) string {
	if alias != nil {
		if n != nil {
			b.d.Errorf(alias.Pos, `on_deny is an alias of reason: give only one`)
			return ""
		}
		n = alias
	}
	s, ok := b.d.String(n)
	if !ok {
		return ""
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		b.d.Errorf(n.Pos, "%s is empty", source.Name(n))
	case strings.ContainsAny(s, "\r\n"):
		b.d.Errorf(n.Pos, "%s must be one line: the agent sees it as one", source.Name(n))
	}
	return s
}

// maxConditions bounds a list of conditions, and so the work of a decision.
const maxConditions = 64

// conditions compiles a condition or a list of them.
func (b *builder) conditions(n *source.Node) []*expr {
	if n == nil {
		return nil
	}
	if n.Kind == source.String {
		if e := compile(b.d, n, cel.BoolType); e != nil {
			return []*expr{e}
		}
		return nil
	}
	if n.Kind != source.Array {
		b.d.WrongKind(n, "a condition or an array of conditions")
		return nil
	}
	if len(n.Items) > maxConditions {
		b.d.Errorf(n.Pos, "%s: %d conditions; at most %d are allowed", source.Name(n), len(n.Items), maxConditions)
		return nil
	}
	var out []*expr
	for _, item := range n.Items {
		if e := compile(b.d, item, cel.BoolType); e != nil {
			out = append(out, e)
		}
	}
	return out
}

func (b *builder) limitList(n *source.Node) []*Limit {
	var out []*Limit
	for _, item := range b.d.Items(n) {
		if l := b.limit(item, ""); l != nil {
			out = append(out, l)
		}
	}
	return out
}

// limit builds a limit, or the rate_limit shorthand when counter is set.
func (b *builder) limit(n *source.Node, counter string) *Limit {
	known, required := []string{"counter", "window", "max", "scope", "cost"}, []string{"counter", "window", "max"}
	if counter != "" {
		known, required = known[1:], required[1:]
	}
	f := b.d.Fields(n, known...)
	if f == nil {
		return nil
	}
	b.d.Require(n, f, required...)
	l := &Limit{Rule: n.Pointer, Counter: counter}
	if c, ok := b.d.String(f["counter"]); ok {
		if strings.TrimSpace(c) == "" || strings.ContainsFunc(c, isControl) {
			b.d.Errorf(f["counter"].Pos, "counter must be a non-empty name without control characters")
		}
		l.Counter = c
	}
	l.Window, _ = b.duration(f["window"])
	if m, ok := b.d.Int(f["max"]); ok {
		if m <= 0 {
			b.d.Errorf(f["max"].Pos, "max must be positive, not %d", m)
		}
		l.Max = m
	}
	if s, ok := b.d.OneOf(f["scope"], scopeNames[:]...); ok {
		l.Scope = Scope(slices.Index(scopeNames[:], s))
	}
	if c := f["cost"]; c != nil {
		l.cost = compile(b.d, c, cel.IntType)
	}
	l.key = limitKey(l.Counter, l.Scope, l.Window, l.Max)
	b.p.limits = append(b.p.limits, l)
	return l
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

var namedWindows = map[string]time.Duration{
	"second": time.Second,
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
}

// duration reads a window or timeout: a unit name, a number of seconds or a
// Go duration. It must be positive.
func (b *builder) duration(n *source.Node) (time.Duration, bool) {
	if n == nil {
		return 0, false
	}
	var d time.Duration
	switch n.Kind {
	case source.String:
		var ok bool
		if d, ok = namedWindows[n.Text]; !ok {
			var err error
			if d, err = time.ParseDuration(n.Text); err != nil {
				b.d.Errorf(n.Pos, `%s: invalid duration %q (want "second", "minute", "hour", "day", a number of seconds or a Go duration such as "90s")`, source.Name(n), n.Text)
				return 0, false
			}
		}
	case source.Number:
		secs, ok := b.d.Float(n)
		if !ok {
			return 0, false
		}
		if secs > math.MaxInt64/float64(time.Second) {
			b.d.Errorf(n.Pos, "%s: %s seconds is too long", source.Name(n), n.Text)
			return 0, false
		}
		d = time.Duration(secs * float64(time.Second))
	default:
		b.d.WrongKind(n, "a string or a number of seconds")
		return 0, false
	}
	if d <= 0 {
		b.d.Errorf(n.Pos, "%s must be positive", source.Name(n))
		return 0, false
	}
	return d, true
}
