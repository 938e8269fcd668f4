package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the golden parts of testdata/*.txtar")

// golden runs check on every archive matching pattern in testdata. check
// returns, for some files of the archive, what they should contain; the
// test fails when they differ, or rewrites them with -update.
func golden(t *testing.T, pattern string, check func(t *testing.T, ar *txtar.Archive) map[string]string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no testdata/%s", pattern)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want := check(t, ar)
			changed := false
			for name, content := range want {
				i := fileIndex(ar, name)
				if i < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: name})
					i = len(ar.Files) - 1
				}
				if golden := string(ar.Files[i].Data); golden != content {
					if *update {
						ar.Files[i].Data = []byte(content)
						changed = true
						continue
					}
					t.Errorf("%s: %s differs (go test -update accepts the new output)\n--- now\n%s--- golden\n%s", file, name, content, golden)
				}
			}
			if changed {
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func fileIndex(ar *txtar.Archive, name string) int {
	for i, f := range ar.Files {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// call is one line of a calls file.
type call struct {
	Server  string         `json:"server"`
	Tool    string         `json:"tool"`
	Args    map[string]any `json:"args"`
	Grant   map[string]any `json:"grant"`
	Session map[string]any `json:"session"`
	User    string         `json:"user"`
}

// formatDecision renders a decision on one line for golden files.
func formatDecision(d Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %q", d.Outcome, d.Rule, d.Reason)
	if len(d.Limits) > 0 {
		b.WriteString(" limits=")
		for i, l := range d.Limits {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l.Rule)
		}
	}
	if d.Approval != nil {
		fmt.Fprintf(&b, " approval=%s/%s", d.Approval.Rule, d.Approval.Timeout)
		if d.Approval.Elicit {
			b.WriteString("/elicit")
		}
	}
	return b.String()
}

// TestDecideGolden runs the decision tables in testdata/decide_*.txtar. Each
// archive holds one policy file (policy.json or policy.yaml), a file calls
// with one JSON call per line (lines starting with # are comments) and the
// golden file decisions: each call, then its decision and whether
// tools/list shows the tool.
func TestDecideGolden(t *testing.T) {
	golden(t, "decide_*.txtar", func(t *testing.T, ar *txtar.Archive) map[string]string {
		var p *Policy
		var calls []byte
		for _, f := range ar.Files {
			switch {
			case strings.HasPrefix(f.Name, "policy."):
				var err error
				if p, err = Parse(f.Name, f.Data); err != nil {
					t.Fatalf("Parse(%s):\n%v", f.Name, err)
				}
			case f.Name == "calls":
				calls = f.Data
			}
		}
		if p == nil || calls == nil {
			t.Fatal("archive needs a policy.json or policy.yaml and a calls file")
		}
		var out bytes.Buffer
		for line := range strings.Lines(string(calls)) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				out.WriteString(line + "\n")
				continue
			}
			var c call
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("call %s: %v", line, err)
			}
			in := &Input{Server: c.Server, Tool: c.Tool, Args: c.Args, Grant: c.Grant, Session: c.Session, User: c.User}
			listed := "unlisted"
			if p.Listed(c.Tool) {
				listed = "listed"
			}
			fmt.Fprintf(&out, "%s\n\t%s (%s)\n", line, formatDecision(p.Decide(in)), listed)
		}
		return map[string]string{"decisions": out.String()}
	})
}

// TestErrorsGolden checks the messages for invalid policies in
// testdata/errors_*.txtar. Every file X of an archive that is not itself a
// golden file is parsed, and X.errors holds what Parse reports.
func TestErrorsGolden(t *testing.T) {
	golden(t, "errors_*.txtar", func(t *testing.T, ar *txtar.Archive) map[string]string {
		want := make(map[string]string)
		for _, f := range ar.Files {
			if strings.HasSuffix(f.Name, ".errors") {
				continue
			}
			_, err := Parse(f.Name, f.Data)
			if err == nil {
				t.Errorf("Parse(%s) = nil error; want errors", f.Name)
				continue
			}
			want[f.Name+".errors"] = err.Error() + "\n"
		}
		return want
	})
}
