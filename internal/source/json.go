package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// jsonParser builds a tree from encoding/json's token stream. The decoder
// validates the syntax and decodes strings exactly; the parser only has to
// find where each token starts, which is the first byte after the previous
// token that is not white space or a separator.
type jsonParser struct {
	doc  *document
	dec  *json.Decoder
	base int // bytes skipped before the decoder's input (a byte order mark)
	prev int // end offset of the previous token
	errs Errors
}

// errSyntax stops the parse; the error itself is already in errs.
var errSyntax = errors.New("syntax error")

func parseJSON(name string, data []byte) (*Node, error) {
	p := &jsonParser{doc: newDocument(name, data)}
	// encoding/json rejects a byte order mark; skip it like an editor would.
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		p.base = 3
	}
	p.prev = p.base
	p.dec = json.NewDecoder(bytes.NewReader(data[p.base:]))
	p.dec.UseNumber()
	root, err := p.root()
	if err == io.EOF {
		p.errs = append(p.errs, errorf(p.doc.pos(len(data)), "unexpected end of input"))
	}
	if err != nil {
		root = nil
	}
	return root, p.errs.Err()
}

func (p *jsonParser) root() (*Node, error) {
	tok, start, err := p.next()
	if err != nil {
		return nil, err
	}
	root, err := p.value(tok, start, "", 0)
	if err != nil {
		return nil, err
	}
	switch _, start, err := p.next(); err {
	case nil:
		p.errs = append(p.errs, errorf(p.doc.pos(start), "unexpected content after the document"))
	case io.EOF, errSyntax:
	default:
		p.errs = append(p.errs, errorf(p.doc.pos(start), "%v", err))
	}
	return root, nil
}

// next returns the next token and its start offset in the document.
func (p *jsonParser) next() (json.Token, int, error) {
	start := p.prev
	for start < len(p.doc.text) {
		switch p.doc.text[start] {
		case ' ', '\t', '\r', '\n', ',', ':':
			start++
			continue
		}
		break
	}
	tok, err := p.dec.Token()
	p.prev = p.base + int(p.dec.InputOffset())
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			p.errs = append(p.errs, errorf(p.doc.pos(start), "%s", se.Error()))
			return nil, start, errSyntax
		}
		if err == io.ErrUnexpectedEOF {
			return nil, start, io.EOF
		}
	}
	return tok, start, err
}

// value builds the node for tok, which starts at offset start.
func (p *jsonParser) value(tok json.Token, start int, ptr string, depth int) (*Node, error) {
	n := &Node{Pos: p.doc.pos(start), Pointer: ptr}
	if depth > maxDepth {
		p.errs = append(p.errs, errorf(n.Pos, "document nested more than %d deep", maxDepth))
		return nil, errSyntax
	}
	switch t := tok.(type) {
	case nil:
		n.Kind = Null
	case bool:
		n.Kind = Bool
		n.Text = "false"
		if t {
			n.Text = "true"
		}
	case json.Number:
		n.Kind = Number
		n.Text = string(t)
	case string:
		n.Kind = String
		n.Text = t
		n.span = span{src: p.doc, start: start, style: spanJSON}
	case json.Delim:
		if t == '[' {
			n.Kind = Array
			for i := 0; ; i++ {
				tok, start, err := p.next()
				if err != nil {
					return nil, err
				}
				if tok == json.Delim(']') {
					return n, nil
				}
				item, err := p.value(tok, start, ptr+"/"+strconv.Itoa(i), depth+1)
				if err != nil {
					return nil, err
				}
				n.Items = append(n.Items, item)
			}
		}
		// t == '{'; the decoder never returns a closing delimiter here.
		n.Kind = Object
		seen := make(map[string]Pos)
		for {
			tok, start, err := p.next()
			if err != nil {
				return nil, err
			}
			if tok == json.Delim('}') {
				return n, nil
			}
			key, _ := tok.(string) // the decoder only allows strings here
			keyPos := p.doc.pos(start)
			tok, start, err = p.next()
			if err != nil {
				return nil, err
			}
			val, err := p.value(tok, start, ptr+"/"+pointerToken(key), depth+1)
			if err != nil {
				return nil, err
			}
			if first, dup := seen[key]; dup {
				p.errs = append(p.errs, errorf(keyPos, "duplicate key %q (first at %d:%d)", key, first.Line, first.Col))
				continue
			}
			seen[key] = keyPos
			n.Fields = append(n.Fields, Field{Key: key, KeyPos: keyPos, Value: val})
		}
	}
	return n, nil
}
