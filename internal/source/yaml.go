package source

import (
	"bytes"
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// yamlConv converts a yaml.Node tree into Nodes.
type yamlConv struct {
	doc   *document
	errs  Errors
	fatal bool // a problem that leaves no usable tree
}

func parseYAML(name string, data []byte) (root *Node, err error) {
	c := &yamlConv{doc: newDocument(name, data)}
	defer func() {
		// The YAML parser is large and not ours; a policy or config file must
		// never take the process down, whatever it contains.
		if r := recover(); r != nil {
			root, err = nil, Errors{errorf(Pos{File: name, Line: 1, Col: 1}, "invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var yn yaml.Node
	if err := dec.Decode(&yn); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{errorf(Pos{File: name, Line: 1, Col: 1}, "empty document")}
		}
		return nil, Errors{c.yamlError(err)}
	}
	if len(yn.Content) == 0 {
		return nil, Errors{errorf(Pos{File: name, Line: 1, Col: 1}, "empty document")}
	}
	root = c.node(yn.Content[0], "", 0)
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		c.errs = append(c.errs, errorf(c.pos(extra.Line, extra.Column), "more than one YAML document"))
	case !errors.Is(err, io.EOF):
		c.errs = append(c.errs, c.yamlError(err))
	}
	if c.fatal {
		root = nil
	}
	return root, c.errs.Err()
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError positions one of the parser's errors, which carry at most a line.
func (c *yamlConv) yamlError(err error) *Error {
	msg := err.Error()
	// The parser leaves the line out when it is the first.
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return errorf(Pos{File: c.doc.name, Line: max(line, 1), Col: 1}, "%s", msg)
}

// offset returns the byte offset of the 1-based line and character column.
func (c *yamlConv) offset(line, col int) int {
	if line < 1 || line > len(c.doc.lines) {
		return len(c.doc.text)
	}
	off := c.doc.lines[line-1]
	for i := 1; i < col && off < len(c.doc.text) && c.doc.text[off] != '\n'; i++ {
		_, size := utf8.DecodeRuneInString(c.doc.text[off:])
		off += size
	}
	return off
}

func (c *yamlConv) pos(line, col int) Pos {
	return c.doc.pos(c.offset(line, col))
}

func (c *yamlConv) errorf(pos Pos, fatal bool, format string, args ...any) {
	c.errs = append(c.errs, errorf(pos, format, args...))
	c.fatal = c.fatal || fatal
}

func (c *yamlConv) node(yn *yaml.Node, ptr string, depth int) *Node {
	start := c.offset(yn.Line, yn.Column)
	n := &Node{Pos: c.doc.pos(start), Pointer: ptr}
	if depth > maxDepth {
		c.errorf(n.Pos, true, "document nested more than %d deep", maxDepth)
		return n
	}
	switch yn.Kind {
	case yaml.SequenceNode:
		n.Kind = Array
		n.Items = make([]*Node, 0, len(yn.Content))
		for i, item := range yn.Content {
			n.Items = append(n.Items, c.node(item, ptr+"/"+strconv.Itoa(i), depth+1))
		}
	case yaml.MappingNode:
		n.Kind = Object
		seen := make(map[string]Pos, len(yn.Content)/2)
		for i := 0; i+1 < len(yn.Content); i += 2 {
			k, v := yn.Content[i], yn.Content[i+1]
			keyPos := c.pos(k.Line, k.Column)
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				c.errorf(keyPos, true, "keys must be plain strings (no merge keys, aliases or collections)")
				continue
			}
			val := c.node(v, ptr+"/"+pointerToken(k.Value), depth+1)
			if first, dup := seen[k.Value]; dup {
				c.errorf(keyPos, false, "duplicate key %q (first at %d:%d)", k.Value, first.Line, first.Col)
				continue
			}
			seen[k.Value] = keyPos
			n.Fields = append(n.Fields, Field{Key: k.Value, KeyPos: keyPos, Value: val})
		}
	case yaml.ScalarNode:
		c.scalar(n, yn, start)
	case yaml.AliasNode:
		// Aliases can expand exponentially; nothing here needs them.
		c.errorf(n.Pos, true, "YAML aliases are not supported")
	default:
		c.errorf(n.Pos, true, "unsupported YAML node")
	}
	return n
}

func (c *yamlConv) scalar(n *Node, yn *yaml.Node, start int) {
	switch tag := yn.ShortTag(); tag {
	case "!!null":
		n.Kind = Null
	case "!!bool":
		b, err := strconv.ParseBool(yn.Value)
		if err != nil {
			c.errorf(n.Pos, true, "invalid boolean %q", yn.Value)
			return
		}
		n.Kind, n.Text = Bool, strconv.FormatBool(b)
	case "!!int":
		var i int64
		if err := yn.Decode(&i); err != nil {
			var f float64
			if err := yn.Decode(&f); err != nil {
				c.errorf(n.Pos, true, "invalid number %q", yn.Value)
				return
			}
			n.Kind, n.Text = Number, strconv.FormatFloat(f, 'g', -1, 64)
			return
		}
		n.Kind, n.Text = Number, strconv.FormatInt(i, 10)
	case "!!float":
		var f float64
		if err := yn.Decode(&f); err != nil {
			c.errorf(n.Pos, true, "invalid number %q", yn.Value)
			return
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			c.errorf(n.Pos, true, "infinite and NaN numbers are not supported")
			return
		}
		n.Kind, n.Text = Number, strconv.FormatFloat(f, 'g', -1, 64)
	case "!!str", "!!timestamp", "!!binary":
		n.Kind, n.Text = String, yn.Value
		switch {
		case yn.Style&yaml.LiteralStyle != 0:
			n.span = span{src: c.doc, start: start, style: spanBlockYAML}
		case yn.Style&yaml.FoldedStyle != 0 || strings.Contains(yn.Value, "\n"):
			// Folding and line joins lose the mapping to source columns.
		case yn.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0:
			n.span = span{src: c.doc, start: start + 1, style: spanInline}
		default:
			n.span = span{src: c.doc, start: start, style: spanInline}
		}
	default:
		c.errorf(n.Pos, true, "unsupported YAML tag %s", tag)
	}
}
