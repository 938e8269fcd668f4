// Package source reads JSON and YAML documents into trees of nodes that
// remember where they came from, so that configuration and policy problems
// can be reported as file:line:col: message.
//
// Parse builds the tree; a Decoder then reads it strictly, recording every
// problem (wrong kinds, unknown fields, bad values) instead of stopping at the
// first, so one pass reports them all. Nothing here panics on any input.
package source

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 1000

// Pos is a position in a document. Line and Col are 1-based; Col counts
// bytes. The zero Pos means "unknown".
type Pos struct {
	File      string
	Line, Col int
}

// String formats p as file:line:col, leaving out the parts that are unknown.
func (p Pos) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if p.File != "" {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
		if p.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Col))
		}
	}
	return b.String()
}

// compare orders positions by file, line and column.
func (p Pos) compare(q Pos) int {
	if c := strings.Compare(p.File, q.File); c != 0 {
		return c
	}
	if p.Line != q.Line {
		return p.Line - q.Line
	}
	return p.Col - q.Col
}

// Kind is the kind of a node's value.
type Kind uint8

// The kinds of JSON values. YAML scalars map onto them by their resolved tag.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"null", "boolean", "number", "string", "array", "object"}

// String returns the kind's name as used in messages: "null", "boolean",
// "number", "string", "array" or "object".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Node is one value of a document. Nodes are built by Parse and not changed
// afterwards, so they may be read concurrently.
type Node struct {
	Kind Kind
	// Pos is where the value starts (for a JSON string, its opening quote).
	Pos Pos
	// Pointer is the value's JSON pointer (RFC 6901): "" for the root.
	Pointer string
	// Text is the value of a String, the literal of a Number (normalised to
	// a Go-parsable decimal for YAML) and "true" or "false" for a Bool.
	Text string
	// Items are the elements of an Array.
	Items []*Node
	// Fields are the members of an Object, in document order, without
	// duplicates (the first of duplicate keys is kept; the others are errors).
	Fields []Field

	span span // where Text's bytes come from, for PosAt
}

// Field is one member of an object.
type Field struct {
	Key    string
	KeyPos Pos
	Value  *Node
}

// Get returns the value of the member named key, or nil when n is not an
// object or has no such member.
func (n *Node) Get(key string) *Node {
	if n == nil {
		return nil
	}
	for i := range n.Fields {
		if n.Fields[i].Key == key {
			return n.Fields[i].Value
		}
	}
	return nil
}

// span records how a scalar's text lies in the source so that PosAt can map
// an offset inside the decoded text back to a position.
type span struct {
	src   *document
	start int       // byte offset of the literal in src.text
	style spanStyle // how the literal is written
}

type spanStyle uint8

const (
	spanNone      spanStyle = iota // no mapping: PosAt returns Pos
	spanJSON                       // a JSON string literal, escapes and all
	spanInline                     // a single-line YAML scalar; start is the first content byte
	spanBlockYAML                  // a YAML literal block scalar (|)
)

// PosAt returns the position of byte off of n.Text. It is exact for JSON
// strings (escapes included), for single-line YAML scalars without escapes and
// for YAML literal blocks (|); otherwise it returns n.Pos.
func (n *Node) PosAt(off int) Pos {
	if n == nil {
		return Pos{}
	}
	s := n.span
	if s.src == nil || off < 0 || off > len(n.Text) {
		return n.Pos
	}
	switch s.style {
	case spanJSON:
		return s.src.pos(s.start + jsonRawOffset(s.src.text[s.start:], off))
	case spanInline:
		return s.src.pos(s.start + off)
	case spanBlockYAML:
		line := strings.Count(n.Text[:off], "\n")
		lineStart := strings.LastIndexByte(n.Text[:off], '\n') + 1
		indent := s.src.blockIndent(n.Pos.Line + 1)
		if indent < 0 {
			return n.Pos
		}
		return Pos{File: n.Pos.File, Line: n.Pos.Line + 1 + line, Col: indent + off - lineStart + 1}
	}
	return n.Pos
}

// document is the text a tree was parsed from, with its line starts.
type document struct {
	name  string
	text  string
	lines []int // byte offset of the start of each line
}

func newDocument(name string, data []byte) *document {
	d := &document{name: name, text: string(data), lines: []int{0}}
	for i, c := range data {
		if c == '\n' {
			d.lines = append(d.lines, i+1)
		}
	}
	return d
}

// pos converts a byte offset into a position.
func (d *document) pos(off int) Pos {
	off = min(max(off, 0), len(d.text))
	i, found := slices.BinarySearch(d.lines, off)
	if !found {
		i--
	}
	return Pos{File: d.name, Line: i + 1, Col: off - d.lines[i] + 1}
}

// blockIndent returns the indentation of a YAML block scalar whose content
// starts at line (1-based): that of its first line that is not blank. It
// returns -1 if there is none.
func (d *document) blockIndent(line int) int {
	for ; line >= 1 && line <= len(d.lines); line++ {
		rest := d.text[d.lines[line-1]:]
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[:i]
		}
		if trimmed := strings.TrimLeft(rest, " "); strings.TrimSpace(trimmed) != "" {
			return len(rest) - len(trimmed)
		}
	}
	return -1
}

// jsonRawOffset returns the offset in the JSON string literal raw (which starts
// with its opening quote) of the byte at offset off of the decoded string.
func jsonRawOffset(raw string, off int) int {
	i, n := 1, 0 // i indexes raw, n counts decoded bytes
	for i < len(raw) && n < off {
		if raw[i] != '\\' || i+1 >= len(raw) {
			i++
			n++
			continue
		}
		if raw[i+1] != 'u' {
			i += 2
			n++
			continue
		}
		r := hex4(raw[i+2:])
		switch {
		case r >= 0xD800 && r < 0xDC00 && strings.HasPrefix(raw[i+6:], `\u`):
			i += 12 // a surrogate pair: 4 bytes of UTF-8
			n += 4
		case r < 0x80:
			i += 6
			n++
		case r < 0x800:
			i += 6
			n += 2
		default:
			i += 6
			n += 3
		}
	}
	return min(i, len(raw))
}

func hex4(s string) rune {
	if len(s) < 4 {
		return -1
	}
	v, err := strconv.ParseUint(s[:4], 16, 32)
	if err != nil {
		return -1
	}
	return rune(v)
}

// Parse reads a document into a tree. The document is YAML when name ends in
// .yaml or .yml or when data, after leading white space, does not start with
// '{'; otherwise it is JSON. The error, if any, is an Errors listing every
// problem found (syntax errors stop the parse; duplicate keys do not).
func Parse(name string, data []byte) (*Node, error) {
	if isYAML(name, data) {
		return parseYAML(name, data)
	}
	return parseJSON(name, data)
}

func isYAML(name string, data []byte) bool {
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		return true
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) == 0 || data[0] != '{'
}

// pointerToken escapes a key for use in a JSON pointer.
func pointerToken(key string) string {
	if !strings.ContainsAny(key, "~/") {
		return key
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

// Error is one problem at one position.
type Error struct {
	Pos Pos
	Msg string
}

// Error formats e as file:line:col: message.
func (e *Error) Error() string {
	if p := e.Pos.String(); p != "" {
		return p + ": " + e.Msg
	}
	return e.Msg
}

// Errors is a list of problems. Its Error method prints one per line.
type Errors []*Error

// Error prints each problem on its own line, as file:line:col: message.
func (l Errors) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Sort orders the problems by position, keeping the order of problems at the
// same position.
func (l Errors) Sort() {
	slices.SortStableFunc(l, func(a, b *Error) int { return a.Pos.compare(b.Pos) })
}

// Err returns nil when l is empty, and l sorted otherwise.
func (l Errors) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
