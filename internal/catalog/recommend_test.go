package catalog_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/policy"
)

func classified(name string, cat catalog.Category) catalog.Classified {
	return catalog.Classified{Name: name, Class: catalog.Class{Category: cat}}
}

// TestRecommendDecides checks that the recommended policy parses and does
// for each category what DESIGN.md §7 says.
func TestRecommendDecides(t *testing.T) {
	tools := []catalog.Classified{
		classified("get_user", catalog.Read),
		classified("create_user", catalog.Write),
		classified("run_onboarding_workflow", catalog.Execute),
		classified("delete_user", catalog.Destructive),
		classified("refund_charge", catalog.Financial),
	}
	doc, err := catalog.Recommend(tools, nil)
	if err != nil {
		t.Fatalf("Recommend = %v", err)
	}
	p, err := policy.Parse("recommended.json", doc)
	if err != nil {
		t.Fatalf("policy.Parse(Recommend(…)) = %v\n%s", err, doc)
	}
	type limit struct {
		counter string
		max     int64
	}
	for _, tt := range []struct {
		tool    string
		outcome policy.Outcome
		rule    string
		limits  []limit
	}{
		{"get_user", policy.Allow, "/tools/get_user", nil},
		{"create_user", policy.Allow, "/tools/create_user", []limit{{"create_user_rate", 30}}},
		{"run_onboarding_workflow", policy.Allow, "/tools/run_onboarding_workflow", []limit{{"run_onboarding_workflow_rate", 10}}},
		{"delete_user", policy.Approve, "/tools/delete_user/action", nil},
		{"refund_charge", policy.Approve, "/tools/refund_charge/action", nil},
		{"unknown_tool", policy.Deny, "/default", nil},
	} {
		d := p.Decide(&policy.Input{Server: "okta", Tool: tt.tool, Args: map[string]any{"userIds": []any{"a", "b"}}})
		if d.Outcome != tt.outcome || d.Rule != tt.rule {
			t.Errorf("Decide(%q) = %v %s; want %v %s", tt.tool, d.Outcome, d.Rule, tt.outcome, tt.rule)
		}
		if len(d.Limits) != len(tt.limits) {
			t.Errorf("Decide(%q) has %d limits; want %d", tt.tool, len(d.Limits), len(tt.limits))
			continue
		}
		for i, l := range d.Limits {
			if l.Counter != tt.limits[i].counter || l.Max != tt.limits[i].max || l.Window != time.Minute || l.Scope != policy.ScopeGrant {
				t.Errorf("Decide(%q) limit %d = %s %d per %v per %v; want %s %d per minute per grant",
					tt.tool, i, l.Counter, l.Max, l.Window, l.Scope, tt.limits[i].counter, tt.limits[i].max)
			}
			if cost, err := l.Cost(&policy.Input{Tool: tt.tool}); err != nil || cost != 1 {
				t.Errorf("Decide(%q) limit cost = %d, %v; want 1: the limit counts calls", tt.tool, cost, err)
			}
		}
		if tt.outcome == policy.Approve && (d.Approval == nil || d.Approval.Rule != tt.rule) {
			t.Errorf("Decide(%q).Approval = %+v; want one for %s", tt.tool, d.Approval, tt.rule)
		}
		// What the policy names, the agent sees; the rest is left out.
		if listed := p.Listed(tt.tool); listed != (tt.tool != "unknown_tool") {
			t.Errorf("Listed(%q) = %v", tt.tool, listed)
		}
	}
}

// TestRecommendSeedLimit checks that a Write tool's limit is the one of the
// seed policy (DESIGN.md §1).
func TestRecommendSeedLimit(t *testing.T) {
	doc, err := catalog.Recommend([]catalog.Classified{classified("provision_applications", catalog.Write)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := `{ "version": "1", "default": "deny",
  "tools": { "provision_applications": { "limits": [
      { "counter": "provision_applications_rate", "window": "minute", "max": 30, "scope": "grant" } ] } } }`
	var got, want any
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(seed), &want); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("Recommend(provision_applications: Write) = %s; want the seed policy %s", g, w)
	}
}

func TestRecommendOptions(t *testing.T) {
	doc, err := catalog.Recommend([]catalog.Classified{
		classified("create_user", catalog.Write),
		classified("run_job", catalog.Execute),
	}, &catalog.RecommendOptions{WritePerMinute: 5, ExecutePerMinute: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse("p.json", doc)
	if err != nil {
		t.Fatal(err)
	}
	for tool, want := range map[string]int64{"create_user": 5, "run_job": 2} {
		if d := p.Decide(&policy.Input{Tool: tool}); len(d.Limits) != 1 || d.Limits[0].Max != want {
			t.Errorf("Decide(%q) limits = %v; want max %d", tool, d.Limits, want)
		}
	}
}

// TestRecommendStable checks that the document does not depend on the
// order of the tools, and is indented JSON ending in a newline.
func TestRecommendStable(t *testing.T) {
	tools := []catalog.Classified{
		classified("b", catalog.Write), classified("a", catalog.Read),
		classified("d", catalog.Destructive), classified("c", catalog.Execute),
	}
	first, err := catalog.Recommend(tools, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(tools)
	again, err := catalog.Recommend(tools, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Errorf("Recommend depends on the order of the tools:\n%s\n%s", first, again)
	}
	if !strings.HasPrefix(string(first), "{\n  \"version\": \"1\",\n  \"default\": \"deny\",\n  \"tools\": {\n    \"a\": {},\n    \"b\": {") || !strings.HasSuffix(string(first), "}\n") {
		t.Errorf("Recommend = %s; want indented JSON, tools sorted", first)
	}
	empty, err := catalog.Recommend(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Parse("empty.json", empty); err != nil {
		t.Errorf("Recommend(no tools) = %s, which does not parse: %v", empty, err)
	}
}

func TestRecommendErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		tools []catalog.Classified
		want  string
	}{
		{"no name", []catalog.Classified{classified("", catalog.Read)}, "no name"},
		{"glob", []catalog.Classified{classified("delete_*", catalog.Destructive)}, "glob"},
		{"control", []catalog.Classified{classified("a\nb", catalog.Read)}, "control"},
		{"twice", []catalog.Classified{classified("a", catalog.Read), classified("a", catalog.Write)}, "twice"},
		{"category", []catalog.Classified{classified("a", catalog.Category(7))}, "invalid category"},
	} {
		doc, err := catalog.Recommend(tt.tools, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Recommend = %s, %v; want an error saying %q", tt.name, doc, err, tt.want)
		}
	}
}
