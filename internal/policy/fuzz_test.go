package policy

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/toolgate/toolgate/internal/source"
)

// FuzzParse checks that Parse never panics, that its errors are positioned,
// and that a policy that parses decides and lists any call without panicking.
func FuzzParse(f *testing.F) {
	f.Add("seed.json", []byte(seed), []byte(`{"userIds": ["a"]}`))
	archives, _ := filepath.Glob("testdata/*.txtar")
	for _, file := range archives {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, af := range ar.Files {
			if af.Name != "calls" && af.Name != "decisions" && !strings.HasSuffix(af.Name, ".errors") {
				f.Add(af.Name, af.Data, []byte(`{"amount": 20000, "userIds": [1, 2], "email": "a@b"}`))
			}
		}
	}
	f.Fuzz(func(t *testing.T, name string, data, argsJSON []byte) {
		p, err := Parse(name, data)
		if err != nil {
			var l source.Errors
			if !errors.As(err, &l) || len(l) == 0 {
				t.Fatalf("Parse error %T %v; want a non-empty source.Errors", err, err)
			}
			for _, e := range l {
				if e.Pos.Line < 1 || e.Pos.Col < 1 || strings.Contains(e.Msg, "\n") {
					t.Errorf("error not positioned on one line: %q", e.Error())
				}
			}
			if p != nil {
				t.Error("Parse returned a policy and an error")
			}
			return
		}
		var args map[string]any
		_ = json.Unmarshal(argsJSON, &args)
		tools := []string{"", "x", "provision_applications"}
		for name := range p.exact {
			tools = append(tools, name, name+"x")
		}
		for _, r := range p.globs {
			tools = append(tools, r.name, strings.ReplaceAll(r.name, "*", "abc"))
		}
		for _, tool := range tools {
			for _, in := range []*Input{
				{Tool: tool},
				{Tool: tool, Args: args, Grant: map[string]any{"id": "g"}, Session: map[string]any{"id": 1.0}, User: "u"},
			} {
				d := p.Decide(in)
				p.Listed(tool)
				if d.Rule == "" || !strings.HasPrefix(d.Rule, "/") {
					t.Errorf("Decide(%q).Rule = %q; want a JSON pointer", tool, d.Rule)
				}
				if strings.ContainsAny(d.Reason, "\r\n") {
					t.Errorf("Decide(%q).Reason = %q; want one line", tool, d.Reason)
				}
				if (d.Outcome == Approve) != (d.Approval != nil) {
					t.Errorf("Decide(%q) = %s: approval set for the wrong outcome", tool, formatDecision(d))
				}
				for _, l := range d.Limits {
					if c, err := l.Cost(in); err == nil && c < 0 {
						t.Errorf("Cost = %d; want >= 0", c)
					}
					if l.Max <= 0 || l.Window <= 0 || l.Key() == "" {
						t.Errorf("invalid limit %+v", *l)
					}
				}
			}
		}
	})
}
