package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/audit"
)

func (h *harness) records(q string) []*audit.Record {
	h.t.Helper()
	if err := h.g.FlushAudit(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	var page struct {
		Records []*audit.Record `json:"records"`
	}
	if code := h.api("GET", "/api/v1/audit?"+q, nil, &page); code != 200 {
		h.t.Fatalf("GET audit = %d", code)
	}
	return page.Records
}

// TestAuditTrail makes one call of each kind and reads the trail back
// through the admin API: every decision recorded with its rule, budgets,
// upstream status, timings, arguments (redacted values, as configured) and
// who approved.
func TestAuditTrail(t *testing.T) {
	h := startWith(t, `{"version": "1", "default": "deny", "hide": ["delete_*"], "tools": {
		"get_user": {},
		"deactivate_user": {"action": "approve", "timeout": "20s"},
		"suspend_user": {"action": "deny", "reason": "frozen"},
		"list_users": {"limits": [{"counter": "lists", "window": "minute", "max": 1, "scope": "server"}]}}}`,
		`"audit": {"arguments": "values"},`)
	cs := h.connect()
	user := h.sim.UserIDs()[0]
	call(cs, "get_user", map[string]any{"userId": user, "apiToken": "ssws-123", "note": "Bearer abc.def.ghi"})
	denied := call(cs, "suspend_user", map[string]any{"userId": user})
	call(cs, "delete_user", map[string]any{"userId": user})
	call(cs, "list_users", nil)
	call(cs, "list_users", nil)
	held := callAsync(cs, "deactivate_user", map[string]any{"userId": user})
	a := h.pending(1)[0]
	h.decide(a.ID, "approve", "ticket 7")
	<-held

	recs := h.records("")
	byDecision := map[string][]*audit.Record{}
	for _, r := range recs {
		byDecision[r.Decision] = append(byDecision[r.Decision], r)
	}
	if len(recs) != 6 || len(byDecision["allow"]) != 2 || len(byDecision["deny"]) != 1 || len(byDecision["hidden"]) != 1 ||
		len(byDecision["limited"]) != 1 || len(byDecision["approved"]) != 1 {
		t.Fatalf("records by decision: %v", keysOf(byDecision))
	}
	for _, r := range recs {
		if r.Seq == 0 || r.Hash == "" || r.RequestID == "" || r.Server != "okta" || r.Method != "tools/call" || r.Session == "" || r.Time.IsZero() {
			t.Errorf("record %+v lacks its identity", r)
		}
	}
	get := byDecision["allow"][len(byDecision["allow"])-1]
	if get.Tool != "get_user" {
		get = byDecision["allow"][0]
	}
	if get.UpstreamStatus != "ok" || get.UpstreamLatency <= 0 || get.Overhead <= 0 || strings.Join(get.ArgKeys, ",") != "apiToken,note,userId" || len(get.ArgDigest) != 64 {
		t.Errorf("allowed record = %+v", get)
	}
	if s := string(get.Args); strings.Contains(s, "ssws-123") || strings.Contains(s, "abc.def.ghi") || !strings.Contains(s, user) {
		t.Errorf("args %s: want values with secrets redacted", s)
	}
	d := byDecision["deny"][0]
	if d.Rule != "/tools/suspend_user/action" || !strings.Contains(d.Message, "frozen") || d.UpstreamStatus != "" || d.RequestID != denied.meta["request_id"] {
		t.Errorf("deny record = %+v; result meta %v", d, denied.meta)
	}
	l := byDecision["limited"][0]
	if len(l.Counters) != 1 || l.Counters[0].Counter != "lists" || !l.Counters[0].Denied || l.Rule != "/tools/list_users/limits/0" {
		t.Errorf("limited record = %+v", l)
	}
	ap := byDecision["approved"][0]
	if ap.Approval == nil || ap.Approval.ID != a.ID || !strings.Contains(ap.Approval.DecidedBy, "alice") || ap.Approval.Reason != "ticket 7" || ap.UpstreamStatus != "ok" {
		t.Errorf("approved record = %+v %+v", ap, ap.Approval)
	}

	// Filters and paging.
	if got := h.records("decision=allow&tool=list_users"); len(got) != 1 || got[0].Tool != "list_users" {
		t.Errorf("filtered = %v", got)
	}
	first := h.records("limit=2")
	if len(first) != 2 || first[0].Seq <= first[1].Seq {
		t.Fatalf("first page = %v; want the newest two", first)
	}
	var page struct {
		Records    []*audit.Record `json:"records"`
		NextBefore int64           `json:"next_before"`
	}
	h.api("GET", "/api/v1/audit?limit=2", nil, &page)
	h.api("GET", "/api/v1/audit?limit=2&before="+itoa(page.NextBefore), nil, &page)
	if len(page.Records) != 2 || page.Records[0].Seq != first[1].Seq-1 {
		t.Errorf("second page = %v", page.Records)
	}
	var one audit.Record
	if code := h.api("GET", "/api/v1/audit/"+itoa(d.Seq), nil, &one); code != 200 || one.Hash != d.Hash {
		t.Errorf("GET one = %d %+v", code, one)
	}
	var rep audit.VerifyReport
	if code := h.api("GET", "/api/v1/audit/verify", nil, &rep); code != 200 || !rep.OK() || rep.Checked != 6 {
		t.Errorf("verify = %d %+v", code, rep)
	}
	if code := h.api("GET", "/api/v1/audit?since=yesterday", nil, nil); code != 400 {
		t.Errorf("bad since = %d; want 400", code)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
