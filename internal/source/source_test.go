package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// dump renders a tree one node per line: pointer, kind, text and position.
func dump(n *Node) string {
	var b strings.Builder
	var walk func(n *Node)
	walk = func(n *Node) {
		fmt.Fprintf(&b, "%q %s", n.Pointer, n.Kind)
		if n.Kind != Array && n.Kind != Object && n.Kind != Null {
			fmt.Fprintf(&b, " %q", n.Text)
		}
		fmt.Fprintf(&b, " @%d:%d\n", n.Pos.Line, n.Pos.Col)
		for _, it := range n.Items {
			walk(it)
		}
		for _, f := range n.Fields {
			fmt.Fprintf(&b, "key %q @%d:%d\n", f.Key, f.KeyPos.Line, f.KeyPos.Col)
			walk(f.Value)
		}
	}
	walk(n)
	return b.String()
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, file, in, want string
	}{
		{
			name: "json with tabs",
			file: "p.json",
			in:   "{\n\t\"a\": [1, 2.5e3 ,\"x\\ny\"],\n\t\"b/~\" : {\"c\": null, \"d\": true}}",
			want: `"" object @1:1
key "a" @2:2
"/a" array @2:7
"/a/0" number "1" @2:8
"/a/1" number "2.5e3" @2:11
"/a/2" string "x\ny" @2:18
key "b/~" @3:2
"/b~1~0" object @3:10
key "c" @3:11
"/b~1~0/c" null @3:16
key "d" @3:22
"/b~1~0/d" boolean "true" @3:27
`,
		},
		{
			name: "json with byte order mark",
			file: "p.json",
			in:   "\xef\xbb\xbf{\"a\": \"b\"}",
			want: `"" object @1:4
key "a" @1:5
"/a" string "b" @1:10
`,
		},
		{
			name: "yaml by name",
			file: "p.yaml",
			in:   "a:\n  - 1\n  - x: 0x10\n    y: \"q\"\n    z: |\n      line\nb: ~\nc: yes\nd: True\n",
			want: `"" object @1:1
key "a" @1:1
"/a" array @2:3
"/a/0" number "1" @2:5
"/a/1" object @3:5
key "x" @3:5
"/a/1/x" number "16" @3:8
key "y" @4:5
"/a/1/y" string "q" @4:8
key "z" @5:5
"/a/1/z" string "line\n" @5:8
key "b" @7:1
"/b" null @7:4
key "c" @8:1
"/c" string "yes" @8:4
key "d" @9:1
"/d" boolean "true" @9:4
`,
		},
		{
			name: "yaml by content",
			file: "p.json",
			in:   "# comment\nversion: \"1\"\nn: 1.50\n",
			want: `"" object @2:1
key "version" @2:1
"/version" string "1" @2:10
key "n" @3:1
"/n" number "1.5" @3:4
`,
		},
		{
			name: "yaml columns count bytes",
			file: "p.yaml",
			in:   "{é: [x, y]}",
			want: `"" object @1:1
key "é" @1:2
"/é" array @1:6
"/é/0" string "x" @1:7
"/é/1" string "y" @1:10
`,
		},
		{
			name: "json top-level scalar",
			file: "p.json",
			in:   "{\"a\":{}}",
			want: `"" object @1:1
key "a" @1:2
"/a" object @1:6
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.file, []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.in, err)
			}
			if got := dump(n); got != tt.want {
				t.Errorf("Parse(%q) =\n%s\nwant\n%s", tt.in, got, tt.want)
			}
			if n.Pos.File != tt.file {
				t.Errorf("Parse(%q).Pos.File = %q; want %q", tt.in, n.Pos.File, tt.file)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file, in string
		want           string
		tree           bool // a tree comes back despite the errors
	}{
		{"json duplicate key", "p.json", "{\"a\": 1,\n \"b\": 2,\n \"a\": 3}", "p.json:3:2: duplicate key \"a\" (first at 1:2)", true},
		{"json nested duplicates", "p.json", "{\"a\": {\"x\": 1, \"x\": 2}, \"a\": 3}", "p.json:1:16: duplicate key \"x\" (first at 1:8)\np.json:1:25: duplicate key \"a\" (first at 1:2)", true},
		{"json syntax", "p.json", "{\n\t\"a\" x}", "p.json:2:6: invalid character 'x' after object key", false},
		{"json trailing comma", "p.json", "{\"a\":1,}", "p.json:1:8: invalid character '}' looking for beginning of object key string", false},
		{"json truncated", "p.json", "{\"a\": [1,\n", "p.json:2:1: unexpected end of input", false},
		{"json trailing content", "p.json", "{} {}", "p.json:1:4: unexpected content after the document", true},
		{"json trailing garbage", "p.json", "{} x", "p.json:1:4: invalid character 'x' looking for beginning of value", true},
		{"json too deep", "p.json", "{\"a\":" + strings.Repeat("[", maxDepth+5), "p.json:1:1006: document nested more than 1000 deep", false},
		{"yaml duplicate key", "p.yaml", "a: 1\nb:\n  c: 1\n  c: 2\n", "p.yaml:4:3: duplicate key \"c\" (first at 3:3)", true},
		{"yaml syntax", "p.yaml", "a:\n  - b\n c: d", "p.yaml:2:1: did not find expected key", false},
		{"yaml syntax first line", "p.yaml", "a: b: c", "p.yaml:1:1: mapping values are not allowed in this context", false},
		{"yaml empty", "p.yaml", "", "p.yaml:1:1: empty document", false},
		{"yaml only comments", "p.yaml", "# nothing\n", "p.yaml:1:1: empty document", false},
		{"yaml alias", "p.yaml", "a: &x 1\nb: *x\n", "p.yaml:2:4: YAML aliases are not supported", false},
		{"yaml merge", "p.yaml", "a: &x {c: 1}\nb:\n  <<: *x\n", "p.yaml:3:3: keys must be plain strings (no merge keys, aliases or collections)", false},
		{"yaml two documents", "p.yaml", "a: 1\n---\nb: 2\n", "p.yaml:2:1: more than one YAML document", true},
		{"yaml infinity", "p.yaml", "a: .inf\n", "p.yaml:1:4: infinite and NaN numbers are not supported", false},
		{"yaml custom tag", "p.yaml", "a: !foo 1\n", "p.yaml:1:4: unsupported YAML tag !foo", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.file, []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error; want %q", tt.in, tt.want)
			}
			var l Errors
			if !errors.As(err, &l) {
				t.Fatalf("Parse(%q) error is %T; want Errors", tt.in, err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q) error =\n%s\nwant\n%s", tt.in, got, tt.want)
			}
			if (n != nil) != tt.tree {
				t.Errorf("Parse(%q) tree = %v; want a tree: %v", tt.in, n != nil, tt.tree)
			}
		})
	}
}

func TestPosAt(t *testing.T) {
	tests := []struct {
		name, file, in, ptr string
		off                 int
		want                string
	}{
		{"json plain", "p.json", `{"a": "hello"}`, "/a", 2, "p.json:1:10"},
		{"json escapes", "p.json", `{"a": "\"\u00e9\ud83d\ude00\n!"}`, "/a", 1 + 2 + 4 + 1, "p.json:1:30"},
		{"json end", "p.json", `{"a": "ab"}`, "/a", 2, "p.json:1:10"},
		{"json tabs", "p.json", "{\n\t\t\"a\": \"xyz\"}", "/a", 1, "p.json:2:10"},
		{"yaml plain", "p.yaml", "a: size(x) > 1\n", "/a", 5, "p.yaml:1:9"},
		{"yaml quoted", "p.yaml", "a: 'size(x) > 1'\n", "/a", 5, "p.yaml:1:10"},
		{"yaml literal block", "p.yaml", "a: |\n  first\n  second line\n", "/a", 6 + 7, "p.yaml:3:10"},
		{"yaml literal block indented line", "p.yaml", "a: |\n\n  first\n    second\n", "/a", 1 + 6 + 4, "p.yaml:4:7"},
		{"yaml folded falls back", "p.yaml", "a: >\n  first\n  second\n", "/a", 8, "p.yaml:1:4"},
		{"out of range falls back", "p.json", `{"a": "ab"}`, "/a", 9, "p.json:1:7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := Parse(tt.file, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			n := root.Get(strings.TrimPrefix(tt.ptr, "/"))
			if got := n.PosAt(tt.off).String(); got != tt.want {
				t.Errorf("PosAt(%d) in %q = %s; want %s", tt.off, tt.in, got, tt.want)
			}
		})
	}
}

func TestPosString(t *testing.T) {
	tests := []struct {
		pos  Pos
		want string
	}{
		{Pos{"f", 1, 2}, "f:1:2"},
		{Pos{"", 1, 2}, "1:2"},
		{Pos{"f", 0, 0}, "f"},
		{Pos{"f", 3, 0}, "f:3"},
		{Pos{}, ""},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q; want %q", tt.pos, got, tt.want)
		}
	}
}

func TestErrorsSort(t *testing.T) {
	l := Errors{
		{Pos{"b", 1, 1}, "b"},
		{Pos{"a", 2, 1}, "a2"},
		{Pos{"a", 1, 9}, "a1-9"},
		{Pos{"a", 1, 2}, "a1-2 first"},
		{Pos{"a", 1, 2}, "a1-2 second"},
	}
	want := "a:1:2: a1-2 first\na:1:2: a1-2 second\na:1:9: a1-9\na:2:1: a2\nb:1:1: b"
	if got := l.Err().Error(); got != want {
		t.Errorf("Errors.Err() =\n%s\nwant\n%s", got, want)
	}
	if err := (Errors{}).Err(); err != nil {
		t.Errorf("empty Errors.Err() = %v; want nil", err)
	}
}

func TestName(t *testing.T) {
	tests := []struct{ ptr, want string }{
		{"", "document"},
		{"/max", "max"},
		{"/tools/a~1b", "a/b"},
		{"/hide/0", "hide[0]"},
		{"/a/b/2/3", "b[2][3]"},
		{"/0", "0"},
	}
	for _, tt := range tests {
		if got := Name(&Node{Pointer: tt.ptr}); got != tt.want {
			t.Errorf("Name(%q) = %q; want %q", tt.ptr, got, tt.want)
		}
	}
}

func TestDecoder(t *testing.T) {
	doc := "{\n" +
		`"s": "str", "i": 30, "f": 1.5, "w": 3.0, "big": 1e30, "b": false,` + "\n" +
		`"list": ["a", 1, "b"], "map": {"k": "v", "n": 2}, "obj": {"x": 1, "y": 2, "z": 3},` + "\n" +
		`"enum": "maybe"` + "\n}"
	root, err := Parse("d.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	if s, ok := d.String(root.Get("s")); !ok || s != "str" {
		t.Errorf("String = %q, %v; want str, true", s, ok)
	}
	if i, ok := d.Int(root.Get("i")); !ok || i != 30 {
		t.Errorf("Int = %d, %v; want 30, true", i, ok)
	}
	if i, ok := d.Int(root.Get("w")); !ok || i != 3 {
		t.Errorf("Int(3.0) = %d, %v; want 3, true", i, ok)
	}
	if f, ok := d.Float(root.Get("f")); !ok || f != 1.5 {
		t.Errorf("Float = %v, %v; want 1.5, true", f, ok)
	}
	if b, ok := d.Bool(root.Get("b")); !ok || b {
		t.Errorf("Bool = %v, %v; want false, true", b, ok)
	}
	if _, ok := d.String(root.Get("absent")); ok {
		t.Errorf("String(absent) ok = true; want false")
	}
	d.Int(root.Get("f"))   // not whole
	d.Int(root.Get("big")) // out of range
	d.Bool(root.Get("s"))  // wrong kind
	for _, item := range d.Items(root.Get("list")) {
		d.String(item)
	}
	for _, f := range d.Members(root.Get("map")) {
		d.String(f.Value)
	}
	obj := root.Get("obj")
	fields := d.Fields(obj, "x", "w")
	if len(fields) != 1 || fields["x"] == nil {
		t.Errorf("Fields = %v; want only x", fields)
	}
	d.Require(obj, fields, "x", "w")
	d.OneOf(root.Get("enum"), "yes", "no", "never")
	d.Add(errors.New("plain"))
	want := strings.Join([]string{
		"plain",
		"d.json:2:6: s must be a boolean, not a string",
		"d.json:2:27: f must be an integer, not 1.5",
		"d.json:2:49: big must be an integer, not 1e30",
		"d.json:3:15: list[1] must be a string, not a number",
		"d.json:3:47: n must be a string, not a number",
		`d.json:3:58: obj: missing required field "w"`,
		`d.json:3:67: unknown field "y" (known: x, w)`,
		`d.json:3:75: unknown field "z" (known: x, w)`,
		`d.json:4:9: enum: unknown value "maybe" (want "yes", "no" or "never")`,
	}, "\n")
	err = d.Err()
	if err == nil {
		t.Fatalf("Err() = nil; want\n%s", want)
	}
	if got := err.Error(); got != want {
		t.Errorf("Err() =\n%s\nwant\n%s", got, want)
	}
}

// toAny converts a tree to the values encoding/json would produce.
func toAny(n *Node) any {
	switch n.Kind {
	case Bool:
		return n.Text == "true"
	case Number:
		return json.Number(n.Text)
	case String:
		return n.Text
	case Array:
		out := []any{}
		for _, it := range n.Items {
			out = append(out, toAny(it))
		}
		return out
	case Object:
		out := map[string]any{}
		for _, f := range n.Fields {
			out[f.Key] = toAny(f.Value)
		}
		return out
	}
	return nil
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"version": "1", "default": "deny", "tools": {"a": {"limits": [{"max": 3}]}}}`,
		"{\n\t\"a\": [1, 2.5e3, \"x\\u00e9\\ud83d\\ude00\"], \"b\": {\"c\": null, \"d\": true}}",
		`{"a": 1, "a": 2}`,
		"a:\n  - 1\n  - x: 0x10\n    z: |\n      line\n",
		"a: &x 1\nb: *x\n",
		"[1, 2]",
		"{} x",
		"",
	}
	for _, s := range seeds {
		f.Add("p.json", []byte(s))
	}
	f.Add("p.yaml", []byte("a: b\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		root, err := Parse(name, data)
		if root == nil && err == nil {
			t.Fatal("Parse returned neither a tree nor an error")
		}
		var l Errors
		if err != nil && !errors.As(err, &l) {
			t.Fatalf("Parse error is %T; want Errors", err)
		}
		for _, e := range l {
			if e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Errorf("error without a position: %v", e)
			}
		}
		if root == nil {
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		var walk func(n *Node)
		walk = func(n *Node) {
			if n.Pos.Line < 1 || n.Pos.Line > lines || n.Pos.Col < 1 {
				t.Errorf("node %q at %v: outside the document", n.Pointer, n.Pos)
			}
			for i := 0; i <= len(n.Text)+1; i++ {
				if p := n.PosAt(i); p.Line < 1 || p.Line > lines {
					t.Errorf("node %q PosAt(%d) = %v: outside the document", n.Pointer, i, p)
				}
			}
			for i, it := range n.Items {
				if want := n.Pointer + "/" + strconv.Itoa(i); it.Pointer != want {
					t.Errorf("item pointer %q; want %q", it.Pointer, want)
				}
				walk(it)
			}
			for _, f := range n.Fields {
				walk(f.Value)
			}
		}
		walk(root)
		// JSON must be read exactly as encoding/json reads it.
		if err == nil && !isYAML(name, data) {
			var want any
			dec := json.NewDecoder(strings.NewReader(strings.TrimPrefix(string(data), "\xef\xbb\xbf")))
			dec.UseNumber()
			if err := dec.Decode(&want); err != nil {
				t.Fatalf("Parse accepted what encoding/json rejects: %v", err)
			}
			if got := toAny(root); !reflect.DeepEqual(got, want) {
				t.Errorf("Parse = %#v; encoding/json = %#v", got, want)
			}
		}
	})
}
