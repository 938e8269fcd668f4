package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/source"
)

// seed is the policy from DESIGN.md §1, which must load unchanged.
const seed = `{ "version": "1", "default": "deny",
  "tools": { "provision_applications": { "limits": [
      { "counter": "provision_applications_rate", "window": "minute", "max": 30, "scope": "grant" } ] } } }`

func mustParse(t testing.TB, name, doc string) *Policy {
	t.Helper()
	p, err := Parse(name, []byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s):\n%v", name, err)
	}
	return p
}

// args decodes a JSON object as the gateway does, numbers as float64.
func args(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSeed(t *testing.T) {
	p := mustParse(t, "seed.json", seed)
	if p.Name() != "seed.json" {
		t.Errorf("Name() = %q; want seed.json", p.Name())
	}
	limits := p.Limits()
	if len(limits) != 1 {
		t.Fatalf("Limits() = %d limits; want 1", len(limits))
	}
	l := limits[0]
	if l.Rule != "/tools/provision_applications/limits/0" || l.Counter != "provision_applications_rate" ||
		l.Window != time.Minute || l.Max != 30 || l.Scope != ScopeGrant {
		t.Errorf("limit = %+v; want the seed's", *l)
	}
	d := p.Decide(&Input{Tool: "provision_applications"})
	if d.Outcome != Allow || d.Rule != "/tools/provision_applications" || len(d.Limits) != 1 || d.Limits[0] != l {
		t.Errorf("Decide(provision_applications) = %s; want allow with the seed limit", formatDecision(d))
	}
	d = p.Decide(&Input{Tool: "deactivate_user"})
	if d.Outcome != Deny || d.Rule != "/default" || d.Reason == "" || d.Limits != nil {
		t.Errorf("Decide(deactivate_user) = %s; want deny by /default", formatDecision(d))
	}
	if !p.Listed("provision_applications") || p.Listed("deactivate_user") {
		t.Errorf("Listed: provision_applications %v, deactivate_user %v; want true, false",
			p.Listed("provision_applications"), p.Listed("deactivate_user"))
	}
}

func TestDecide(t *testing.T) {
	p := mustParse(t, "p.json", `{
		"version": "1",
		"default": "deny",
		"hide": ["secret", "internal_*"],
		"tools": {
			"secret": {},
			"internal_tool": {},
			"pay": {"deny_if": ["args.amount > 10000"], "approve_if": ["args.amount >= 1000"]},
			"count": {"require": ["args.n + 1 == 4"]},
			"flag": {"deny_if": "args.flag"},
			"ab*": {"action": "deny", "reason": "ab star"},
			"a*c": {"action": "deny", "reason": "a star c"},
			"abc*": {"action": "deny", "reason": "abc star"},
			"abcd": {}
		}
	}`)
	tests := []struct {
		name, tool, args string
		want             Outcome
		rule             string
	}{
		{"hide wins over an exact rule", "secret", "", Hidden, "/hide/0"},
		{"hide glob wins over an exact rule", "internal_tool", "", Hidden, "/hide/1"},
		{"hide glob on an unknown tool", "internal_other", "", Hidden, "/hide/1"},
		{"unknown under default deny", "other", "", Deny, "/default"},
		{"whole float compares with int", "pay", `{"amount": 20000}`, Deny, "/tools/pay/deny_if/0"},
		{"fractional float compares with int", "pay", `{"amount": 10000.5}`, Deny, "/tools/pay/deny_if/0"},
		{"equal is not greater", "pay", `{"amount": 10000}`, Approve, "/tools/pay/approve_if/0"},
		{"below approval", "pay", `{"amount": 999.99}`, Allow, "/tools/pay"},
		{"missing key fails closed", "pay", `{}`, Deny, "/tools/pay/deny_if/0"},
		{"wrong type fails closed", "pay", `{"amount": "lots"}`, Deny, "/tools/pay/deny_if/0"},
		{"nil args fail closed", "pay", "", Deny, "/tools/pay/deny_if/0"},
		{"float arithmetic as int", "count", `{"n": 3}`, Allow, "/tools/count"},
		{"float arithmetic fails", "count", `{"n": 3.5}`, Deny, "/tools/count/require/0"},
		{"dyn condition true", "flag", `{"flag": true}`, Deny, "/tools/flag/deny_if"},
		{"dyn condition false", "flag", `{"flag": false}`, Allow, "/tools/flag"},
		{"dyn condition not bool", "flag", `{"flag": "yes"}`, Deny, "/tools/flag/deny_if"},
		{"exact name wins over globs", "abcd", "", Allow, "/tools/abcd"},
		{"longest glob wins", "abcx", "", Deny, "/tools/abc*/action"},
		{"same length: document order", "abc", "", Deny, "/tools/abc*/action"},
		{"same length globs in order", "abxc", "", Deny, "/tools/ab*/action"},
		{"only one glob matches", "axc", "", Deny, "/tools/a*c/action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Input{Tool: tt.tool}
			if tt.args != "" {
				in.Args = args(t, tt.args)
			}
			d := p.Decide(in)
			if d.Outcome != tt.want || d.Rule != tt.rule {
				t.Errorf("Decide(%q, %s) = %s; want %s %s", tt.tool, tt.args, formatDecision(d), tt.want, tt.rule)
			}
			if strings.ContainsAny(d.Reason, "\n\r") || (d.Reason == "") != (d.Outcome == Allow) {
				t.Errorf("Decide(%q, %s).Reason = %q; want one line, empty only for allow", tt.tool, tt.args, d.Reason)
			}
		})
	}
}

func TestDecideFailedConditionSaysSo(t *testing.T) {
	p := mustParse(t, "p.json", `{"version": "1", "tools": {
		"a": {"deny_if": ["args.x > 1"], "reason": "x is too big"},
		"b": {"approve_if": ["args.x > 1"]}
	}}`)
	for _, tool := range []string{"a", "b"} {
		d := p.Decide(&Input{Tool: tool})
		if !strings.Contains(d.Reason, "could not be evaluated") || !strings.Contains(d.Reason, "args.x > 1") {
			t.Errorf("Decide(%q).Reason = %q; want it to say the condition could not be evaluated", tool, d.Reason)
		}
	}
	if d := p.Decide(&Input{Tool: "a", Args: map[string]any{"x": 2.0}}); d.Reason != "x is too big" {
		t.Errorf("Decide(a, x=2).Reason = %q; want the rule's reason", d.Reason)
	}
}

func TestDecideNilInput(t *testing.T) {
	p := mustParse(t, "p.json", `{"version": "1", "default": "allow"}`)
	if d := p.Decide(nil); d.Outcome != Allow || d.Rule != "/default" {
		t.Errorf("Decide(nil) = %s; want allow /default", formatDecision(d))
	}
}

func TestDefaultIsDeny(t *testing.T) {
	p := mustParse(t, "p.json", `{"version": "1", "tools": {"a": {}}}`)
	if d := p.Decide(&Input{Tool: "b"}); d.Outcome != Deny || d.Rule != "/default" {
		t.Errorf("Decide(b) without default = %s; want deny /default", formatDecision(d))
	}
}

func TestListed(t *testing.T) {
	p := mustParse(t, "p.json", `{
		"version": "1",
		"default": "deny",
		"hide": ["h", "hg_*"],
		"tools": {
			"plain": {},
			"limited": {"rate_limit": {"max": 1, "window": 1}},
			"conditional": {"deny_if": ["args.x == 1"]},
			"approved": {"action": "approve"},
			"aliased": {"action": "require_approval"},
			"denied_why": {"action": "deny", "reason": "ask the admins"},
			"denied_alias": {"action": "deny", "on_deny": "ask the admins"},
			"denied": {"action": "deny"},
			"self_hidden": {"action": "hide"},
			"h": {},
			"hg_x": {},
			"glob_*": {}
		}
	}`)
	open := mustParse(t, "open.json", `{"version": "1", "default": "allow"}`)
	tests := []struct {
		p    *Policy
		tool string
		want bool
	}{
		{p, "plain", true},
		{p, "limited", true},
		{p, "conditional", true},
		{p, "approved", true},
		{p, "aliased", true},
		{p, "denied_why", true},
		{p, "denied_alias", true},
		{p, "denied", false},
		{p, "self_hidden", false},
		{p, "h", false},
		{p, "hg_x", false},
		{p, "hg_unknown", false},
		{p, "glob_x", true},
		{p, "unknown", false},
		{open, "unknown", true},
	}
	for _, tt := range tests {
		if got := tt.p.Listed(tt.tool); got != tt.want {
			t.Errorf("%s: Listed(%q) = %v; want %v", tt.p.Name(), tt.tool, got, tt.want)
		}
	}
}

func TestAliases(t *testing.T) {
	p := mustParse(t, "p.json", `{"version": "1", "tools": {
		"a": {"action": "require_approval", "timeout": "90s"},
		"b": {"action": "approve", "timeout": 90},
		"c": {"action": "deny", "on_deny": "nope"},
		"d": {"action": "deny", "reason": "nope"}
	}}`)
	for _, tool := range []string{"a", "b"} {
		d := p.Decide(&Input{Tool: tool})
		if d.Outcome != Approve || d.Approval == nil || d.Approval.Timeout != 90*time.Second ||
			d.Approval.Rule != "/tools/"+tool+"/action" || d.Rule != d.Approval.Rule {
			t.Errorf("Decide(%q) = %s; want approve for 90s by its action", tool, formatDecision(d))
		}
	}
	for _, tool := range []string{"c", "d"} {
		if d := p.Decide(&Input{Tool: tool}); d.Outcome != Deny || d.Reason != "nope" {
			t.Errorf("Decide(%q) = %s; want deny \"nope\"", tool, formatDecision(d))
		}
	}
	p = mustParse(t, "p.json", `{"version": "1", "tools": {"a": {"action": "approve"}}}`)
	if d := p.Decide(&Input{Tool: "a"}); d.Approval == nil || d.Approval.Timeout != DefaultApprovalTimeout {
		t.Errorf("Decide(a) = %s; want the default timeout", formatDecision(d))
	}
}

func TestWindows(t *testing.T) {
	tests := []struct {
		window string
		want   time.Duration
	}{
		{`"second"`, time.Second},
		{`"minute"`, time.Minute},
		{`"hour"`, time.Hour},
		{`"day"`, 24 * time.Hour},
		{`60`, time.Minute},
		{`0.5`, 500 * time.Millisecond},
		{`"90s"`, 90 * time.Second},
		{`"1h30m"`, 90 * time.Minute},
	}
	for _, tt := range tests {
		p := mustParse(t, "p.json", `{"version": "1", "all_tools": {"limits": [{"counter": "c", "max": 1, "window": `+tt.window+`}]}}`)
		if got := p.Limits()[0].Window; got != tt.want {
			t.Errorf("window %s = %v; want %v", tt.window, got, tt.want)
		}
	}
}

func TestLimitsOrderAndScope(t *testing.T) {
	p := mustParse(t, "p.json", `{"version": "1",
		"all_tools": {"limits": [{"counter": "all", "window": 1, "max": 100, "scope": "server"}]},
		"tools": {
			"a": {"rate_limit": {"max": 10, "window": 60, "scope": "session"},
			      "limits": [{"counter": "x", "window": "hour", "max": 5, "scope": "user"}]},
			"b": {}
		}}`)
	var rules []string
	for _, l := range p.Limits() {
		rules = append(rules, fmt.Sprintf("%s %s %s", l.Rule, l.Counter, l.Scope))
	}
	want := "/all_tools/limits/0 all server|/tools/a/limits/0 x user|/tools/a/rate_limit a_rate session"
	if got := strings.Join(rules, "|"); got != want {
		t.Errorf("Limits() = %s; want %s", got, want)
	}
	d := p.Decide(&Input{Tool: "a"})
	var got []string
	for _, l := range d.Limits {
		got = append(got, l.Rule)
	}
	if want := "/all_tools/limits/0 /tools/a/limits/0 /tools/a/rate_limit"; strings.Join(got, " ") != want {
		t.Errorf("Decide(a).Limits = %v; want %s", got, want)
	}
	if d := p.Decide(&Input{Tool: "b"}); len(d.Limits) != 1 || d.Limits[0].Counter != "all" {
		t.Errorf("Decide(b).Limits = %v; want only all_tools", d.Limits)
	}
}

func TestLimitCost(t *testing.T) {
	p := mustParse(t, "p.json", `{"version": "1", "tools": {"a": {"limits": [
		{"counter": "plain", "window": 1, "max": 1},
		{"counter": "grants", "window": 1, "max": 1, "cost": "size(args.userIds) * size(args.applicationIds)"},
		{"counter": "n", "window": 1, "max": 1, "cost": "args.n"},
		{"counter": "neg", "window": 1, "max": 1, "cost": "0 - size(args.userIds)"}
	]}}}`)
	ls := p.Limits()
	tests := []struct {
		name    string
		limit   *Limit
		args    string
		want    int64
		wantErr bool
	}{
		{"no cost is one", ls[0], `{}`, 1, false},
		{"product of sizes", ls[1], `{"userIds": ["a", "b", "c"], "applicationIds": ["x", "y"]}`, 6, false},
		{"empty list costs zero", ls[1], `{"userIds": [], "applicationIds": ["x"]}`, 0, false},
		{"missing key", ls[1], `{"userIds": ["a"]}`, 0, true},
		{"whole number from JSON", ls[2], `{"n": 7}`, 7, false},
		{"fraction", ls[2], `{"n": 7.5}`, 0, true},
		{"string", ls[2], `{"n": "7"}`, 0, true},
		{"negative", ls[3], `{"userIds": ["a"]}`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.limit.Cost(&Input{Tool: "a", Args: args(t, tt.args)})
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Cost(%s) = %d, %v; want %d, error %v", tt.args, got, err, tt.want, tt.wantErr)
			}
		})
	}
	if got, err := ls[0].Cost(nil); got != 1 || err != nil {
		t.Errorf("Cost(nil) = %d, %v; want 1, nil", got, err)
	}
}

func TestLimitKey(t *testing.T) {
	doc := func(limit string) *Limit {
		return mustParse(t, "p.json", `{"version": "1", "all_tools": {"limits": [`+limit+`]}}`).Limits()[0]
	}
	base := doc(`{"counter": "c", "window": "minute", "max": 30}`)
	same := []string{
		`{"counter": "c", "window": 60, "max": 30, "scope": "grant"}`,
		`{"counter": "c", "window": "1m", "max": 30, "cost": "2"}`,
	}
	for _, s := range same {
		if k := doc(s).Key(); k != base.Key() {
			t.Errorf("Key(%s) = %q; want %q", s, k, base.Key())
		}
	}
	differ := []string{
		`{"counter": "d", "window": "minute", "max": 30}`,
		`{"counter": "c", "window": "hour", "max": 30}`,
		`{"counter": "c", "window": "minute", "max": 31}`,
		`{"counter": "c", "window": "minute", "max": 30, "scope": "server"}`,
		`{"counter": "c grant 1m0s", "window": "minute", "max": 30}`,
	}
	for _, s := range differ {
		if k := doc(s).Key(); k == base.Key() {
			t.Errorf("Key(%s) = %q, the same as for %s", s, k, "c/minute/30")
		}
	}
}

// TestCELPositions checks that CEL's column is added to the position of the
// expression, through JSON escapes.
func TestCELPositions(t *testing.T) {
	doc := "{\"version\": \"1\", \"tools\": {\"a\": {\"deny_if\": [\"\\u0061rgs.x > 1 && nope\"]}}}"
	_, err := Parse("p.json", []byte(doc))
	var l source.Errors
	if !errors.As(err, &l) || len(l) != 1 {
		t.Fatalf("Parse = %v; want one source error", err)
	}
	if want := strings.Index(doc, "nope") + 1; l[0].Pos.Line != 1 || l[0].Pos.Col != want {
		t.Errorf("error at %v; want 1:%d", l[0].Pos, want)
	}
}

// TestHostileCondition checks that the cost and iteration limits stop
// expensive conditions quickly, which then fail closed, and let cheap ones
// through.
func TestHostileCondition(t *testing.T) {
	p := mustParse(t, "p.json", `{"version": "1", "tools": {
		"nested": {"deny_if": ["args.l.all(x, args.l.all(y, args.l.all(z, x + y + z >= 0)))"]},
		"literal": {"deny_if": ["[1,2,3,4,5,6,7,8,9,10].all(x, [1,2,3,4,5,6,7,8,9,10].all(y, [1,2,3,4,5,6,7,8,9,10].all(z, [1,2,3,4,5,6,7,8,9,10].all(w, [1,2,3,4,5,6,7,8,9,10].all(v, x+y+z+w+v >= 0)))))"]},
		"loop": {"deny_if": ["args.l.all(x, x >= 0)"]},
		"scan": {"deny_if": ["args.l.exists(x, args.s.contains(string(x)))"]},
		"in": {"deny_if": ["-1 in args.l"]}
	}}`)
	list := func(n int) []any {
		l := make([]any, n)
		for i := range l {
			l[i] = float64(i)
		}
		return l
	}
	big := strings.Repeat("a", 4<<20)
	tests := []struct {
		tool string
		n    int
		want string // in the reason; "" for a decision that goes through
	}{
		{"nested", 10, "denied by condition"}, // 1110 iterations
		{"nested", 20, "more than 2000 loop iterations"},
		{"nested", 100_000, "more than 2000 loop iterations"},
		{"literal", 0, "more than 2000 loop iterations"},
		{"loop", 2000, "denied by condition"},
		{"loop", 2001, "more than 2000 loop iterations"},
		{"loop", 1_000_000, "more than 2000 loop iterations"},
		{"scan", 100_000, "cost limit exceeded"},
		{"in", 1000, ""},
		{"in", 100_000, ""}, // linear, and CEL does not count it
	}
	for _, tt := range tests {
		in := &Input{Tool: tt.tool, Args: map[string]any{"l": list(tt.n), "s": big}}
		start := time.Now()
		d := p.Decide(in)
		el := time.Since(start)
		if tt.want == "" && d.Outcome != Allow || tt.want != "" && (d.Outcome != Deny || !strings.Contains(d.Reason, tt.want)) {
			t.Errorf("Decide(%q, %d elements) = %s; want %q", tt.tool, tt.n, formatDecision(d), tt.want)
		}
		// Milliseconds in fact; the margin is for a busy machine.
		if !raceEnabled && el > time.Second {
			t.Errorf("Decide(%q, %d elements) took %v", tt.tool, tt.n, el)
		}
	}
}

func TestTooManyConditions(t *testing.T) {
	conds := strings.TrimSuffix(strings.Repeat(`"true",`, maxConditions+1), ",")
	_, err := Parse("p.json", []byte(`{"version": "1", "tools": {"a": {"deny_if": [`+conds+`]}}}`))
	if err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("Parse(65 conditions) = %v; want an error", err)
	}
}

func TestDecideAllocs(t *testing.T) {
	p := mustParse(t, "p.json", `{"version": "1", "default": "deny", "hide": ["h_*"],
		"all_tools": {"limits": [{"counter": "all", "window": 1, "max": 1}]},
		"tools": {"a": {"rate_limit": {"max": 1, "window": 1}}, "g_*": {}, "d": {"action": "deny"}}}`)
	for _, tool := range []string{"a", "g_x", "h_x", "d", "unknown"} {
		in := &Input{Tool: tool, Args: map[string]any{"x": 1.0}}
		if n := testing.AllocsPerRun(100, func() { p.Decide(in) }); n != 0 {
			t.Errorf("Decide(%q) allocates %v times; want 0", tool, n)
		}
	}
}

func TestDecideConcurrent(t *testing.T) {
	p := mustParse(t, "p.json", `{"version": "1", "tools": {
		"a": {"deny_if": ["size(args.ids) > 2"], "limits": [{"counter": "c", "window": 1, "max": 9, "cost": "size(args.ids)"}]}}}`)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				ids := make([]any, (g+i)%4)
				in := &Input{Tool: "a", Args: map[string]any{"ids": ids}}
				d := p.Decide(in)
				if want := len(ids) <= 2; (d.Outcome == Allow) != want {
					t.Errorf("Decide(%d ids) = %s", len(ids), formatDecision(d))
					return
				}
				if d.Outcome == Allow {
					if c, err := d.Limits[0].Cost(in); err != nil || c != int64(len(ids)) {
						t.Errorf("Cost(%d ids) = %d, %v", len(ids), c, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestOutcomeAndScopeStrings(t *testing.T) {
	for o, want := range map[Outcome]string{Deny: "deny", Allow: "allow", Hidden: "hidden", Approve: "approve", 9: "invalid"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q; want %q", o, got, want)
		}
	}
	for s, want := range map[Scope]string{ScopeGrant: "grant", ScopeSession: "session", ScopeUser: "user", ScopeServer: "server", 9: "invalid"} {
		if got := s.String(); got != want {
			t.Errorf("Scope(%d).String() = %q; want %q", s, got, want)
		}
	}
	var d Decision
	if d.Outcome != Deny {
		t.Errorf("zero Decision outcome = %v; want deny", d.Outcome)
	}
	b, _ := json.Marshal(struct {
		O Outcome
		S Scope
	}{Approve, ScopeUser})
	if string(b) != `{"O":"approve","S":"user"}` {
		t.Errorf("json = %s", b)
	}
}

func BenchmarkDecideSeed(b *testing.B) {
	p := mustParse(b, "seed.json", seed)
	in := &Input{Tool: "provision_applications", Args: args(b, `{"userIds": ["u1"], "applicationIds": ["a1"]}`),
		Grant: map[string]any{"id": "g1"}}
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(in)
	}
}

func BenchmarkDecideDefaultDeny(b *testing.B) {
	p := mustParse(b, "seed.json", seed)
	in := &Input{Tool: "deactivate_user"}
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(in)
	}
}

func BenchmarkDecideCondition(b *testing.B) {
	p := mustParse(b, "p.json", `{"version": "1", "default": "deny", "tools": {"provision_applications": {
		"approve_if": ["size(args.userIds) > 50"],
		"limits": [{"counter": "grants", "window": "minute", "max": 300, "cost": "size(args.userIds) * size(args.applicationIds)"}]}}}`)
	in := &Input{Tool: "provision_applications", Args: args(b, `{"userIds": ["u1", "u2"], "applicationIds": ["a1"]}`)}
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(in)
	}
}

func BenchmarkDecideNumericCondition(b *testing.B) {
	p := mustParse(b, "p.json", `{"version": "1", "tools": {"pay": {"deny_if": ["args.amount > 10000"]}}}`)
	in := &Input{Tool: "pay", Args: args(b, `{"amount": 500}`)}
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(in)
	}
}

func BenchmarkCost(b *testing.B) {
	p := mustParse(b, "p.json", `{"version": "1", "tools": {"a": {"limits": [
		{"counter": "grants", "window": "minute", "max": 300, "cost": "size(args.userIds) * size(args.applicationIds)"}]}}}`)
	l := p.Limits()[0]
	in := &Input{Tool: "a", Args: args(b, `{"userIds": ["u1", "u2"], "applicationIds": ["a1"]}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Cost(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSeed(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("seed.json", []byte(seed)); err != nil {
			b.Fatal(err)
		}
	}
}
