package catalog

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Classify returns the risk class of tool t (DESIGN.md §7). A nil opts
// means an untrusted server.
//
// The category comes from the verb of the tool's name ("delete_user",
// "bulk_user_import", "okta_get_user"), or when the name has none from the
// first verb of its description, and is Write when neither has a known
// verb: a tool is not assumed to be harmless because its name is unusual.
// Annotations and the description then raise it: readOnlyHint false makes
// a Read tool Write, destructiveHint true and words like "overwrite" or
// "permanently" make it Destructive. Annotations lower it only for a
// trusted server: readOnlyHint true makes any tool Read, destructiveHint
// false makes a Destructive tool Write.
//
// The severity starts from the category (Read and Write Low, Execute
// Medium, Destructive and Financial High) and is raised by what the tool
// acts on and how much at once:
//
//   - bulk inputs (arrays of IDs, CSV data) or a bulk name or description:
//     one level above the category's base, none for Read;
//   - access-granting verbs (assign, provision, activate, …): Write
//     Medium;
//   - accounts (user, member, …): Write Medium, Destructive Critical;
//   - collections (group, database, repository, …): Destructive Critical;
//     an account or collection that a relation names ("remove_user_from_group")
//     is not itself destroyed, and does not count;
//   - secrets (passwords, tokens, API keys, environment variables): High
//     to read or write, Critical to run or destroy;
//   - privileges (admin, roles, permissions, MFA factors, policies): High
//     to write or run, Critical to destroy;
//   - personal data (location, salary, …) of an account the name names
//     ("get_user_last_location"): Medium;
//   - reaching outside systems (openWorldHint, send, publish, …): Write
//     Medium;
//   - code or commands run as given (shell, sql, script): Execute Critical;
//   - money leaving (pay, transfer, payout, …): Financial Critical.
//
// Only the signals that set the class are listed: a cue that raises the
// severity to less than another one does is left out. Classify is
// deterministic, reads nothing but t, and is safe for concurrent use.
func Classify(t *mcp.Tool, opts *Options) Class {
	if t == nil {
		t = &mcp.Tool{}
	}
	c := &classifier{
		t:       t,
		trusted: opts != nil && opts.Trusted,
		name:    words(t.Name),
		desc:    words(t.Description),
		props:   properties(t.InputSchema),
	}
	c.category()
	c.annotations()
	c.severity()
	sig := append(c.catSignals, c.sevSignals...)
	slices.SortStableFunc(sig, func(a, b Signal) int { return kindOrder[a.Kind] - kindOrder[b.Kind] })
	return Class{Category: c.cat, Severity: c.sev, Signals: sig}
}

var kindOrder = map[string]int{SignalAnnotation: 0, SignalName: 1, SignalDescription: 2, SignalInput: 3}

type classifier struct {
	t       *mcp.Tool
	trusted bool
	name    []string
	desc    []string
	props   []property

	cat        Category
	catSignals []Signal // what set cat
	sev        Severity
	sevSignals []Signal // what set sev
}

// category sets the category from the name and the description.
func (c *classifier) category() {
	if cat, why, ok := nameCategory(c.name); ok {
		c.setCategory(cat, SignalName, why)
	} else if cat, word, ok := leadingVerb(c.desc); ok {
		c.setCategory(cat, SignalDescription, fmt.Sprintf("starts with %q: %s", word, cat))
	} else {
		c.setCategory(Write, SignalName, "no known verb: Write")
	}
	if c.cat < Destructive {
		if p := findPhrase(c.desc, destructivePhrases); p != "" {
			c.raise(Destructive, SignalDescription, fmt.Sprintf("%q: Destructive", p))
		}
	}
}

func (c *classifier) setCategory(cat Category, kind, detail string) {
	c.cat = cat
	c.catSignals = []Signal{{kind, detail}}
}

// raise raises the category to cat. A cue that agrees with the category
// another one already raised it to is listed too.
func (c *classifier) raise(cat Category, kind, detail string) {
	if cat >= c.cat {
		c.cat = cat
		c.catSignals = append(c.catSignals, Signal{kind, detail})
	}
}

// annotations applies the tool's annotations to the category: they raise
// it always, and lower it only for a trusted server. A hint that would lower
// it from an untrusted server is listed as ignored.
func (c *classifier) annotations() {
	a := c.t.Annotations
	if a == nil {
		return
	}
	if a.ReadOnlyHint {
		switch {
		case c.cat == Read:
		case c.trusted:
			c.setCategory(Read, SignalAnnotation, "readOnlyHint: Read (trusted server)")
		default:
			c.catSignals = append(c.catSignals, Signal{SignalAnnotation, "readOnlyHint: ignored, server not trusted"})
		}
		// The other hints are meaningful only for tools that write.
		return
	}
	// ReadOnlyHint decodes to false when absent; it was given if any other
	// hint was.
	explicit := a.DestructiveHint != nil || a.OpenWorldHint != nil || a.IdempotentHint
	if explicit && c.cat == Read {
		c.raise(Write, SignalAnnotation, "readOnlyHint false: Write")
	}
	if d := a.DestructiveHint; d != nil {
		switch {
		case *d:
			c.raise(Destructive, SignalAnnotation, "destructiveHint: Destructive")
		case c.cat != Destructive:
		case c.trusted:
			c.setCategory(Write, SignalAnnotation, "destructiveHint false: Write (trusted server)")
		default:
			c.catSignals = append(c.catSignals, Signal{SignalAnnotation, "destructiveHint false: ignored, server not trusted"})
		}
	}
}

// cue is a reason to raise the severity.
type cue uint8

const (
	cueBulk cue = iota
	cuePrincipal
	cueCollection
	cueAccess
	cueSecret
	cuePrivilege
	cuePersonal
	cueExternal
	cueCode
	cueMoneyOut
)

// none marks a cue that does not apply to a category.
const none Severity = 255

// floors[cue][category] is the least severity the cue gives a tool of the
// category.
var floors = [...][5]Severity{
	//               Read    Write   Execute   Destructive Financial
	cueBulk:       {none, Medium, High, Critical, Critical},
	cuePrincipal:  {none, Medium, none, Critical, none},
	cueCollection: {none, none, none, Critical, none},
	cueAccess:     {none, Medium, none, none, none},
	cueSecret:     {High, High, Critical, Critical, Critical},
	cuePrivilege:  {none, High, High, Critical, Critical},
	cuePersonal:   {Medium, Medium, none, none, none},
	cueExternal:   {none, Medium, none, none, none},
	cueCode:       {none, none, Critical, none, none},
	cueMoneyOut:   {none, none, none, none, Critical},
}

var baseSeverity = [5]Severity{Read: Low, Write: Low, Execute: Medium, Destructive: High, Financial: High}

// cueMeaning is how a signal names a cue.
var cueMeaning = [...]string{
	cueBulk:       "bulk",
	cuePrincipal:  "accounts",
	cueCollection: "holds many",
	cueAccess:     "grants access",
	cueSecret:     "secrets",
	cuePrivilege:  "privileges",
	cuePersonal:   "personal data",
	cueExternal:   "outside systems",
	cueCode:       "runs code",
	cueMoneyOut:   "money out",
}

type found struct {
	cue      cue
	kind     string
	evidence []string
}

// severity sets the severity: the category's base, raised to the highest
// floor of the cues found. The signals are the cues that reach it.
func (c *classifier) severity() {
	var cues []found
	add := func(q cue, kind string, evidence ...string) {
		if len(evidence) == 0 || floors[q][c.cat] == none {
			return
		}
		for i := range cues {
			if cues[i].cue == q && cues[i].kind == kind {
				for _, e := range evidence {
					if !slices.Contains(cues[i].evidence, e) {
						cues[i].evidence = append(cues[i].evidence, e)
					}
				}
				return
			}
		}
		cues = append(cues, found{q, kind, evidence})
	}

	if a := c.t.Annotations; a != nil && !a.ReadOnlyHint && a.OpenWorldHint != nil && *a.OpenWorldHint {
		add(cueExternal, SignalAnnotation, "openWorldHint")
	}

	// The name.
	relation := slices.Contains(c.name, "from")
	add(cueBulk, SignalName, quoted(matching(c.name, nameBulkWords, nil))...)
	if !relation {
		add(cuePrincipal, SignalName, quoted(matching(c.name, principals, nil))...)
		add(cueCollection, SignalName, quoted(matching(c.name, collections, nil))...)
	}
	add(cueAccess, SignalName, verbsOf(matching(c.name, accessVerbs, nil))...)
	add(cueSecret, SignalName, quoted(secrets(c.name))...)
	add(cuePrivilege, SignalName, quoted(matching(c.name, privilegeWords, nil))...)
	// Personal data is about a person: the name must say whose.
	person := len(matching(c.name, principals, nil)) > 0
	if person {
		add(cuePersonal, SignalName, quoted(matching(c.name, personalWords, nil))...)
	}
	add(cueExternal, SignalName, verbsOf(matching(c.name, externalVerbs, nil))...)
	add(cueCode, SignalName, quoted(matching(c.name, codeWords, nil))...)
	add(cueMoneyOut, SignalName, quoted(matching(c.name, moneyOutWords, nil))...)

	// The description.
	add(cueBulk, SignalDescription, quoted(append(matching(c.desc, bulkWords, nil), bulkPhrases(c.desc)...))...)
	add(cueSecret, SignalDescription, quoted(secrets(c.desc))...)
	add(cuePrivilege, SignalDescription, quoted(matching(c.desc, privilegeWords, nil))...)
	if person {
		add(cuePersonal, SignalDescription, quoted(matching(c.desc, personalWords, nil))...)
	}

	// The inputs.
	for _, p := range c.props {
		last := p.words[len(p.words)-1]
		switch {
		case p.typ == "array" && (last == "ids" || slices.Contains(p.descWords, "ids") || slices.Contains(p.descWords, "identifiers")):
			add(cueBulk, SignalInput, p.name)
		case p.typ == "array" && bulkInputs[last]:
			add(cueBulk, SignalInput, p.name)
		case slices.Contains(p.words, "csv"):
			add(cueBulk, SignalInput, p.name)
		}
		if len(secrets(p.words)) > 0 {
			add(cueSecret, SignalInput, p.name)
		}
		if len(matching(p.words, privilegeWords, nil)) > 0 {
			add(cuePrivilege, SignalInput, p.name)
		}
		if codeWords[last] {
			add(cueCode, SignalInput, p.name)
		}
	}

	c.sev = baseSeverity[c.cat]
	for _, f := range cues {
		c.sev = max(c.sev, floors[f.cue][c.cat])
	}
	if c.sev == baseSeverity[c.cat] {
		return
	}
	for _, f := range cues {
		if floors[f.cue][c.cat] == c.sev {
			c.sevSignals = append(c.sevSignals, Signal{f.kind,
				fmt.Sprintf("%s (%s): %s", strings.Join(f.evidence, ", "), cueMeaning[f.cue], c.sev)})
		}
	}
}

// nameCategory returns the category of a name's words. The first verb
// leads: later verbs count only after a conjunction ("get_or_create"), and
// financial words only after a verb that is not Read ("create_invoice").
// A name without a verb takes the riskiest of its nouns ("bulk_user_import"
// has a verb, "onboarding_workflow" a noun).
func nameCategory(ws []string) (Category, string, bool) {
	lead := slices.IndexFunc(ws, func(w string) bool { _, ok := verbs[w]; return ok })
	if lead < 0 {
		found := false
		var cat Category
		var word string
		for _, w := range ws {
			if n, ok := nouns[w]; ok && (!found || n > cat) {
				cat, word, found = n, w, true
			}
		}
		return cat, fmt.Sprintf("%q: %s", word, cat), found
	}
	cat, why := verbs[ws[lead]], fmt.Sprintf("verb %q: %s", ws[lead], verbs[ws[lead]])
	for i := lead + 1; i < len(ws); i++ {
		w := ws[i]
		if v, ok := verbs[w]; ok && conjunctions[ws[i-1]] && v > cat {
			cat, why = v, fmt.Sprintf("verb %q: %s", w, v)
		}
		if financialWords[w] && verbs[ws[lead]] != Read && cat < Financial {
			cat, why = Financial, fmt.Sprintf("%q: Financial", w)
		}
	}
	return cat, why, true
}

// leadingVerb returns the category of the first verb of a description's
// first sentence, among its first six words ("Use this tool to delete …").
func leadingVerb(ws []string) (Category, string, bool) {
	for i, w := range ws {
		if i == 6 || w == "." {
			break
		}
		// "Lists", "Fetches", "Applies".
		for _, form := range []string{w, strings.TrimSuffix(w, "s"), strings.TrimSuffix(w, "es"), strings.TrimSuffix(w, "ies") + "y"} {
			if cat, ok := verbs[form]; ok {
				return cat, w, true
			}
		}
	}
	return 0, "", false
}

// matching returns the words of ws in set, without repeats, ignoring those
// in except.
func matching(ws []string, in, except map[string]bool) []string {
	var out []string
	for _, w := range ws {
		if in[w] && !except[w] && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// secrets returns the secret words and phrases in ws.
func secrets(ws []string) []string {
	var out []string
	for i, w := range ws {
		if secretWords[w] && !((w == "token" || w == "tokens") && i > 0 && notSecret[ws[i-1]]) && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	if p := findPhrase(ws, secretPhrases); p != "" {
		out = append(out, p)
	}
	return out
}

// bulkPhrases returns the phrases like "multiple users" in ws.
func bulkPhrases(ws []string) []string {
	var out []string
	for i := 1; i < len(ws); i++ {
		if bulkQuantifiers[ws[i-1]] && bulkTargets[ws[i]] {
			if p := ws[i-1] + " " + ws[i]; !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// findPhrase returns the first of phrases found in ws, or "".
func findPhrase(ws []string, phrases [][]string) string {
	for i := range ws {
		for _, p := range phrases {
			if i+len(p) <= len(ws) && slices.Equal(ws[i:i+len(p)], p) {
				return strings.Join(p, " ")
			}
		}
	}
	return ""
}

func quoted(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = fmt.Sprintf("%q", w)
	}
	return out
}

func verbsOf(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = fmt.Sprintf("verb %q", w)
	}
	return out
}

// words splits a name or a text into lowercase words: at every character
// that is not a letter or a digit, and between the words of camelCase
// ("getUserIDs" is get, user, ids). A full stop that ends a sentence is
// kept as the word ".".
func words(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			if r == '.' && (i+1 == len(rs) || unicode.IsSpace(rs[i+1])) {
				out = append(out, ".")
			}
			continue
		}
		if unicode.IsUpper(r) && len(cur) > 0 {
			prev := cur[len(cur)-1]
			next := rune(0)
			if i+1 < len(rs) {
				next = rs[i+1]
			}
			// "userIds": a lower case letter or digit before; "HTTPServer":
			// an upper case letter before, a lower case one after, unless
			// that is the plural s of an acronym ("IDs").
			plural := next == 's' && (i+2 == len(rs) || !unicode.IsLower(rs[i+2]))
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && unicode.IsLower(next) && !plural) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	return out
}

// property is a top-level property of an input schema.
type property struct {
	name      string
	words     []string
	typ       string
	descWords []string
}

// properties returns the top-level properties of an input schema, sorted by
// name. The schema may be any value that encodes as a JSON Schema object.
func properties(schema any) []property {
	m, ok := schema.(map[string]any)
	if !ok && schema != nil {
		b, err := json.Marshal(schema)
		if err != nil || json.Unmarshal(b, &m) != nil {
			return nil
		}
	}
	props, _ := m["properties"].(map[string]any)
	var out []property
	for name, v := range props {
		ws := words(name)
		if len(ws) == 0 {
			continue
		}
		p := property{name: name, words: ws}
		if pm, ok := v.(map[string]any); ok {
			p.typ, _ = pm["type"].(string)
			if d, ok := pm["description"].(string); ok {
				p.descWords = words(d)
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b property) int { return strings.Compare(a.name, b.name) })
	return out
}
