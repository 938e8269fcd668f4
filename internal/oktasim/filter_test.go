package oktasim

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFilter(t *testing.T) {
	attrs := map[string]string{
		"status":             "ACTIVE",
		"profile.department": "Engineering",
		"profile.city":       "Seattle",
		"profile.level":      "10",
		"lastUpdated":        "2025-05-01T10:00:00.000Z",
		"profile.note":       `say "hi"`,
	}
	get := func(a string) string { return attrs[a] }
	tests := []struct {
		expr string
		want bool
	}{
		{`status eq "ACTIVE"`, true},
		{`status eq "active"`, true},
		{`STATUS EQ "ACTIVE"`, false}, // attribute names are the caller's to resolve
		{`status EQ "ACTIVE"`, true},
		{`status ne "ACTIVE"`, false},
		{`profile.department sw "eng"`, true},
		{`profile.department ew "ING"`, true},
		{`profile.department co "gine"`, true},
		{`profile.department co "sales"`, false},
		{`profile.manager pr`, false},
		{`profile.city pr`, true},
		{`profile.manager ne "x"`, true},
		{`profile.manager eq ""`, false},
		{`lastUpdated gt "2025-04-30"`, true},
		{`lastUpdated lt "2025-04-30"`, false},
		{`profile.level gt 9`, true}, // numeric, not "10" < "9"
		{`profile.level le "10"`, true},
		{`profile.note eq "say \"hi\""`, true},
		{`status eq "ACTIVE" and profile.city eq "Denver"`, false},
		{`status eq "ACTIVE" and (profile.city eq "Denver" or profile.city eq "Seattle")`, true},
		{`not (profile.city eq "Seattle")`, false},
		{`not profile.city eq "Denver"`, true},
		{`profile.city eq "Denver" or status eq "ACTIVE" and profile.department eq "Sales"`, false}, // and binds tighter
		{`status eq ACTIVE`, true},
	}
	for _, tt := range tests {
		f, err := parseFilter(tt.expr)
		if err != nil {
			t.Errorf("parseFilter(%q): %v", tt.expr, err)
			continue
		}
		if got := f.match(get); got != tt.want {
			t.Errorf("parseFilter(%q).match = %v; want %v", tt.expr, got, tt.want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{``, "empty filter"},
		{`status`, "expected an operator"},
		{`status is "x"`, "expected an operator"},
		{`status eq`, "expected a value"},
		{`status eq "x`, "unterminated string"},
		{`(status eq "x"`, "expected )"},
		{`status eq "x")`, `unexpected ")"`},
		{`status eq "x" and`, "expected an attribute name"},
		{`"status" eq "x"`, "expected an attribute name"},
		{strings.Repeat("(", 100) + `a pr` + strings.Repeat(")", 100), "nested too deeply"},
		{strings.Repeat("not ", 100) + `a pr`, "nested too deeply"},
	}
	for _, tt := range tests {
		_, err := parseFilter(tt.expr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFilter(%q) error = %v; want one containing %q", tt.expr, err, tt.want)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`status eq "ACTIVE"`, `a pr or (b sw "x" and not c gt 3)`, `"`, `((`, `a eq "\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := parseFilter(s)
		if err != nil {
			return
		}
		flt.match(func(string) string { return "x" })
		flt.match(func(string) string { return "" })
	})
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"firstName,lastName,email\nAnn,Lee,ann@x.example\n",
		"\ufeffFirst Name,Last Name,E-mail,city\n\"A, B\",C,d@e.example,\n",
		"a,a\n", "\"", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := parseCSV(s)
		if err != nil {
			return
		}
		d := seedDirectory(stepClock())
		d.importUsers(rows, true, nil)
	})
}

// FuzzTools calls every tool with arbitrary arguments: whatever comes in,
// a tool returns text or an error and never panics.
func FuzzTools(f *testing.F) {
	seeds := []string{
		`{}`, `null`, `[]`, `{"userId":"maya.chen@northwind.example"}`, `{"userId":null}`,
		`{"limit":1e9,"after":"x"}`, `{"filter":"status eq \"ACTIVE\"","sortBy":"id","sortOrder":"desc"}`,
		`{"csvData":"firstName,lastName,email\nA,B,a@b.example\n","defaultGroups":[""]}`,
		`{"userIds":["maya.chen@northwind.example"],"applicationIds":["x"],"attributeMapping":{"city":{"Seattle":"y"}}}`,
		`{"attribute":"city","operator":"pr","value":""}`, `{"name":"G","groupId":"g"}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		name := catalog[int(which)%len(catalog)].Name
		a, err := decodeArgs(json.RawMessage(raw))
		if err != nil {
			return
		}
		d := seedDirectory(stepClock())
		text, err := tools[name].run(d, a)
		if err == nil && text == "" {
			t.Errorf("%s(%s) returned no text and no error", name, raw)
		}
	})
}
