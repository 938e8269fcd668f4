package oktasim

import (
	"fmt"
	"strconv"
	"strings"
)

// A filter is a parsed SCIM filter expression, the language of Okta's filter
// and search parameters: `status eq "ACTIVE" and profile.department sw "Eng"`.
// It supports the operators eq, ne, co, sw, ew, pr, gt, ge, lt and le,
// combined with and, or, not and parentheses. Like Okta, it compares strings
// without regard to case.
type filter interface {
	match(get func(attr string) string) bool
}

type (
	andFilter struct{ l, r filter }
	orFilter  struct{ l, r filter }
	notFilter struct{ f filter }
	cmpFilter struct{ attr, op, value string }
)

func (f andFilter) match(get func(string) string) bool { return f.l.match(get) && f.r.match(get) }
func (f orFilter) match(get func(string) string) bool  { return f.l.match(get) || f.r.match(get) }
func (f notFilter) match(get func(string) string) bool { return !f.f.match(get) }

func (f cmpFilter) match(get func(string) string) bool {
	return compare(get(f.attr), f.op, f.value)
}

// compare applies a SCIM operator to an attribute value; an unset attribute
// ("") matches nothing but ne.
func compare(have, op, want string) bool {
	if op == "pr" {
		return have != ""
	}
	if op == "ne" {
		return !strings.EqualFold(have, want)
	}
	if have == "" {
		return false
	}
	h, w := strings.ToLower(have), strings.ToLower(want)
	switch op {
	case "eq":
		return h == w
	case "co":
		return strings.Contains(h, w)
	case "sw":
		return strings.HasPrefix(h, w)
	case "ew":
		return strings.HasSuffix(h, w)
	}
	c := strings.Compare(h, w)
	hf, err1 := strconv.ParseFloat(h, 64)
	wf, err2 := strconv.ParseFloat(w, 64)
	if err1 == nil && err2 == nil {
		c = 0
		if hf < wf {
			c = -1
		} else if hf > wf {
			c = 1
		}
	}
	switch op {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

var filterOps = map[string]bool{
	"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "pr": true,
	"gt": true, "ge": true, "lt": true, "le": true,
}

// maxFilterDepth bounds nesting so that hostile input cannot recurse deeply.
const maxFilterDepth = 32

type token struct {
	text   string
	quoted bool // a string literal; text is unescaped
	pos    int  // byte offset in the filter, for messages
}

type filterParser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// parseFilter parses a SCIM filter expression.
func parseFilter(src string) (filter, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: src, toks: toks}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty filter")
	}
	f, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, p.errorf("unexpected %q", p.toks[p.i].text)
	}
	return f, nil
}

func tokenize(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(' || c == ')':
			toks = append(toks, token{text: src[i : i+1], pos: i})
			i++
		case c == '"':
			var b strings.Builder
			start := i
			i++
			for {
				if i >= len(src) {
					return nil, fmt.Errorf("unterminated string starting at offset %d", start)
				}
				if src[i] == '\\' && i+1 < len(src) {
					b.WriteByte(src[i+1])
					i += 2
					continue
				}
				if src[i] == '"' {
					i++
					break
				}
				b.WriteByte(src[i])
				i++
			}
			toks = append(toks, token{text: b.String(), quoted: true, pos: start})
		default:
			start := i
			for i < len(src) && !strings.ContainsRune(" \t\r\n()\"", rune(src[i])) {
				i++
			}
			toks = append(toks, token{text: src[start:i], pos: start})
		}
	}
	return toks, nil
}

func (p *filterParser) errorf(format string, a ...any) error {
	pos := len(p.src)
	if p.i < len(p.toks) {
		pos = p.toks[p.i].pos
	}
	return fmt.Errorf("invalid filter at offset %d: %s", pos, fmt.Sprintf(format, a...))
}

// keyword reports whether the next token is the unquoted word w, and
// consumes it if so.
func (p *filterParser) keyword(w string) bool {
	if p.i < len(p.toks) && !p.toks[p.i].quoted && strings.EqualFold(p.toks[p.i].text, w) {
		p.i++
		return true
	}
	return false
}

func (p *filterParser) or() (filter, error) {
	l, err := p.and()
	for err == nil && p.keyword("or") {
		var r filter
		r, err = p.and()
		l = orFilter{l, r}
	}
	return l, err
}

func (p *filterParser) and() (filter, error) {
	l, err := p.unary()
	for err == nil && p.keyword("and") {
		var r filter
		r, err = p.unary()
		l = andFilter{l, r}
	}
	return l, err
}

func (p *filterParser) unary() (filter, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxFilterDepth {
		return nil, p.errorf("nested too deeply")
	}
	if p.keyword("not") {
		f, err := p.unary()
		return notFilter{f}, err
	}
	if p.keyword("(") {
		f, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.keyword(")") {
			return nil, p.errorf("expected )")
		}
		return f, nil
	}
	return p.comparison()
}

func (p *filterParser) comparison() (filter, error) {
	if p.i >= len(p.toks) {
		return nil, p.errorf("expected an attribute name")
	}
	attr := p.toks[p.i]
	if attr.quoted || attr.text == "(" || attr.text == ")" {
		return nil, p.errorf("expected an attribute name, not %q", attr.text)
	}
	p.i++
	if p.i >= len(p.toks) || p.toks[p.i].quoted || !filterOps[strings.ToLower(p.toks[p.i].text)] {
		return nil, p.errorf("expected an operator (eq, ne, co, sw, ew, pr, gt, ge, lt, le) after %q", attr.text)
	}
	op := strings.ToLower(p.toks[p.i].text)
	p.i++
	if op == "pr" {
		return cmpFilter{attr: attr.text, op: op}, nil
	}
	if p.i >= len(p.toks) || (!p.toks[p.i].quoted && (p.toks[p.i].text == "(" || p.toks[p.i].text == ")")) {
		return nil, p.errorf("expected a value after %q %s", attr.text, op)
	}
	v := p.toks[p.i]
	p.i++
	return cmpFilter{attr: attr.text, op: op, value: v.text}, nil
}
