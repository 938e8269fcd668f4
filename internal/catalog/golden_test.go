package catalog_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden parts of testdata/*.txtar")

// golden compares the files of archive with those of want, by name, or
// rewrites them with -update; a file the archive lacks is added in want's
// order.
func golden(t *testing.T, archive string, want []txtar.File) {
	t.Helper()
	file := filepath.Join("testdata", archive)
	ar, err := txtar.ParseFile(file)
	if err != nil {
		if !*update || !os.IsNotExist(err) {
			t.Fatal(err)
		}
		ar = &txtar.Archive{}
	}
	changed := false
	for _, w := range want {
		i := slices.IndexFunc(ar.Files, func(f txtar.File) bool { return f.Name == w.Name })
		if i < 0 {
			ar.Files = append(ar.Files, txtar.File{Name: w.Name})
			i = len(ar.Files) - 1
		}
		if got := string(ar.Files[i].Data); got != string(w.Data) {
			if *update {
				ar.Files[i].Data = w.Data
				changed = true
				continue
			}
			t.Errorf("%s: %s differs (go test -update accepts the new output)\n--- now\n%s--- golden\n%s", file, w.Name, w.Data, got)
		}
	}
	if changed {
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadTools reads a tools/list capture: {"server": …, "tools": […]}.
func loadTools(t *testing.T, file string) []*mcp.Tool {
	t.Helper()
	var doc struct {
		Tools []*mcp.Tool `json:"tools"`
	}
	readJSON(t, filepath.Join("testdata", file), &doc)
	if len(doc.Tools) == 0 {
		t.Fatalf("%s: no tools", file)
	}
	return doc.Tools
}

// describe words a decision as "toolgate scan" shows it.
func describe(d policy.Decision) string {
	var s string
	switch d.Outcome {
	case policy.Allow:
		s = "allow"
	case policy.Deny:
		s = "deny"
	case policy.Hidden:
		s = "hide"
	case policy.Approve:
		s = "approve"
	}
	for _, l := range d.Limits {
		s += fmt.Sprintf(", %d/%s per %s", l.Max, window(l.Window), l.Scope)
	}
	return s
}

func window(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	case 24 * time.Hour:
		return "day"
	}
	return d.String()
}

// TestClassifyGolden classifies the tools of the Okta server and of the
// reference servers, as from an untrusted server and, for servers whose
// tools have annotations, from a trusted one; and for each, writes the
// recommended policy and the table "toolgate scan" would print under it.
// testdata/README.md explains the labels.
func TestClassifyGolden(t *testing.T) {
	for _, tt := range []struct {
		archive, tools string
		annotated      bool
	}{
		{"classify-okta.txtar", "okta-tools.json", false},
		{"classify-everything.txtar", "everything-tools.json", true},
		{"classify-filesystem.txtar", "filesystem-tools.json", true},
	} {
		t.Run(strings.TrimSuffix(tt.archive, ".txtar"), func(t *testing.T) {
			tools := loadTools(t, tt.tools)
			var want []txtar.File
			trust := []bool{false}
			if tt.annotated {
				trust = append(trust, true)
			}
			for _, trusted := range trust {
				section := "untrusted"
				if trusted {
					section = "trusted"
				}
				var classified []catalog.Classified
				for _, tool := range tools {
					classified = append(classified, catalog.Classified{Name: tool.Name, Class: catalog.Classify(tool, &catalog.Options{Trusted: trusted})})
				}
				doc, err := catalog.Recommend(classified, nil)
				if err != nil {
					t.Fatalf("Recommend = %v", err)
				}
				p, err := policy.Parse(section+".policy.json", doc)
				if err != nil {
					t.Fatalf("policy.Parse(Recommend(…)) = %v", err)
				}
				var rows []catalog.Row
				for _, c := range classified {
					rows = append(rows, catalog.Row{Tool: c.Name, Class: c.Class,
						Policy: describe(p.Decide(&policy.Input{Server: "s", Tool: c.Name}))})
				}
				var b bytes.Buffer
				if err := catalog.WriteTable(&b, rows); err != nil {
					t.Fatal(err)
				}
				want = append(want,
					txtar.File{Name: section + ".table", Data: b.Bytes()},
					txtar.File{Name: section + ".policy.json", Data: doc})
			}
			golden(t, tt.archive, want)
		})
	}
}

// TestOktaKnownLabels checks the labels DESIGN.md §7 fixes for the Okta
// server.
func TestOktaKnownLabels(t *testing.T) {
	known := map[string]string{
		"provision_applications":  "Write/Medium",
		"create_user":             "Write/Medium",
		"activate_user":           "Write/Medium",
		"bulk_user_import":        "Write/Medium",
		"run_onboarding_workflow": "Execute/High",
		"deactivate_user":         "Destructive/Critical",
		"suspend_user":            "Destructive/Critical",
	}
	seen := 0
	for _, tool := range loadTools(t, "okta-tools.json") {
		want, ok := known[tool.Name]
		if !ok {
			continue
		}
		seen++
		for _, trusted := range []bool{false, true} {
			if got := catalog.Classify(tool, &catalog.Options{Trusted: trusted}).String(); got != want {
				t.Errorf("Classify(%q, trusted=%v) = %s; want %s", tool.Name, trusted, got, want)
			}
		}
	}
	if seen != len(known) {
		t.Errorf("found %d of the %d known tools in okta-tools.json", seen, len(known))
	}
}

// TestCapturesParse checks that the captures decode as the gateway's
// client decodes tools, and are what their header says.
func TestCapturesParse(t *testing.T) {
	for file, n := range map[string]int{"okta-tools.json": 21, "everything-tools.json": 19, "filesystem-tools.json": 14} {
		tools := loadTools(t, file)
		if len(tools) != n {
			t.Errorf("%s: %d tools; want %d", file, len(tools), n)
		}
		for _, tool := range tools {
			if tool.Name == "" || tool.InputSchema == nil {
				t.Errorf("%s: tool %+v has no name or no input schema", file, tool)
			}
		}
		var doc map[string]json.RawMessage
		readJSON(t, filepath.Join("testdata", file), &doc)
		if doc["server"] == nil {
			t.Errorf("%s: no \"server\" saying where it comes from", file)
		}
	}
}
