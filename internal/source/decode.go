package source

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Decoder reads nodes into Go values strictly, recording a positioned error
// for every problem and carrying on, so that one pass finds them all.
//
// The accessors take the node to read, which may be nil for an absent field:
// then they record nothing and return the zero value and false. The zero
// Decoder is ready to use. A Decoder is not safe for concurrent use.
type Decoder struct {
	errs Errors
}

// Errorf records a problem at pos.
func (d *Decoder) Errorf(pos Pos, format string, args ...any) {
	d.errs = append(d.errs, errorf(pos, format, args...))
}

// Add records err: the problems of an Errors (such as Parse returns), or any
// other error without a position.
func (d *Decoder) Add(err error) {
	var l Errors
	switch {
	case err == nil:
	case errors.As(err, &l):
		d.errs = append(d.errs, l...)
	default:
		d.errs = append(d.errs, &Error{Msg: err.Error()})
	}
}

// Err returns the problems recorded so far, sorted by position, as an
// Errors, or nil when there are none.
func (d *Decoder) Err() error {
	return d.errs.Err()
}

// Name describes n in messages by the last token of its JSON pointer, with
// array indexes appended to their array's name: "max", "hide[0]".
func Name(n *Node) string {
	ptr := n.Pointer
	var idx []string
	for ptr != "" {
		i := strings.LastIndexByte(ptr, '/')
		tok := strings.NewReplacer("~1", "/", "~0", "~").Replace(ptr[i+1:])
		ptr = ptr[:i]
		if _, err := strconv.Atoi(tok); err != nil || ptr == "" {
			s := tok
			if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
				s = strconv.Quote(s) // keep messages on one line
			}
			for j := len(idx) - 1; j >= 0; j-- {
				s += "[" + idx[j] + "]"
			}
			return s
		}
		idx = append(idx, tok)
	}
	return "document"
}

// article returns the kind with "a" or "an" for messages.
func article(k Kind) string {
	switch k {
	case Array, Object:
		return "an " + k.String()
	case Null:
		return "null"
	}
	return "a " + k.String()
}

// Kind reports whether n is of kind want, recording an error if it is not.
// A nil n is not an error.
func (d *Decoder) Kind(n *Node, want Kind) bool {
	if n == nil {
		return false
	}
	if n.Kind != want {
		d.WrongKind(n, article(want))
		return false
	}
	return true
}

// WrongKind records that n is not what was wanted, described in words:
// "x must be WANT, not a string".
func (d *Decoder) WrongKind(n *Node, want string) {
	d.Errorf(n.Pos, "%s must be %s, not %s", Name(n), want, article(n.Kind))
}

// Fields checks that n is an object whose keys are all in known, recording an
// error for each unknown key, and returns the known members by key (nil when
// n is nil or not an object).
func (d *Decoder) Fields(n *Node, known ...string) map[string]*Node {
	if !d.Kind(n, Object) {
		return nil
	}
	m := make(map[string]*Node, len(n.Fields))
	for _, f := range n.Fields {
		if !contains(known, f.Key) {
			d.Errorf(f.KeyPos, "unknown field %q (known: %s)", f.Key, strings.Join(known, ", "))
			continue
		}
		m[f.Key] = f.Value
	}
	return m
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Members checks that n is an object and returns its members in document
// order; it is for objects whose keys are names chosen by the author.
func (d *Decoder) Members(n *Node) []Field {
	if !d.Kind(n, Object) {
		return nil
	}
	return n.Fields
}

// Items checks that n is an array and returns its elements.
func (d *Decoder) Items(n *Node) []*Node {
	if !d.Kind(n, Array) {
		return nil
	}
	return n.Items
}

// Require records an error at parent for each name that fields lacks, and
// reports whether none is missing. It is meant for the result of Fields; a
// nil fields (parent absent or of the wrong kind) is not reported again.
func (d *Decoder) Require(parent *Node, fields map[string]*Node, names ...string) bool {
	if fields == nil {
		return false
	}
	ok := true
	for _, name := range names {
		if fields[name] == nil {
			d.Errorf(parent.Pos, "%s: missing required field %q", Name(parent), name)
			ok = false
		}
	}
	return ok
}

// String returns the value of a string node.
func (d *Decoder) String(n *Node) (string, bool) {
	if !d.Kind(n, String) {
		return "", false
	}
	return n.Text, true
}

// Bool returns the value of a boolean node.
func (d *Decoder) Bool(n *Node) (bool, bool) {
	if !d.Kind(n, Bool) {
		return false, false
	}
	return n.Text == "true", true
}

// Float returns the value of a number node.
func (d *Decoder) Float(n *Node) (float64, bool) {
	if !d.Kind(n, Number) {
		return 0, false
	}
	f, err := strconv.ParseFloat(n.Text, 64)
	if err != nil || math.IsInf(f, 0) {
		d.Errorf(n.Pos, "%s: number %s is out of range", Name(n), n.Text)
		return 0, false
	}
	return f, true
}

// Int returns the value of a number node that is a whole number within the
// range of int64 (3.0 is accepted; 3.5 is an error).
func (d *Decoder) Int(n *Node) (int64, bool) {
	if !d.Kind(n, Number) {
		return 0, false
	}
	if i, err := strconv.ParseInt(n.Text, 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(n.Text, 64)
	// 2^63 is exactly representable, and the first float out of range.
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		d.Errorf(n.Pos, "%s must be an integer, not %s", Name(n), n.Text)
		return 0, false
	}
	return int64(f), true
}

// OneOf returns the value of a string node that must be one of allowed,
// recording an error that lists them otherwise.
func (d *Decoder) OneOf(n *Node, allowed ...string) (string, bool) {
	s, ok := d.String(n)
	if !ok || !d.Check(n, s, allowed...) {
		return "", false
	}
	return s, true
}

// Check reports whether s, the value read from n (after any rewriting, such
// as variable expansion), is one of allowed, recording an error that lists
// them otherwise.
func (d *Decoder) Check(n *Node, s string, allowed ...string) bool {
	if contains(allowed, s) {
		return true
	}
	d.Errorf(n.Pos, "%s: unknown value %q (want %s)", Name(n), s, quoteList(allowed))
	return false
}

// quoteList formats names as "a", "b" or "c".
func quoteList(names []string) string {
	var b strings.Builder
	for i, s := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	return b.String()
}
