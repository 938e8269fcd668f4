package approval_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

var key = approval.Key{GrantID: "grt_aaaaaaaaaaaaaaaa", Server: "okta", Tool: "provision_applications", Digest: "sha256:0f1e2d"}

func TestNewID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := approval.NewID()
		if !approval.IsID(id) {
			t.Fatalf("IsID(%q) = false for a new ID", id)
		}
		if seen[id] {
			t.Fatalf("NewID returned %q twice", id)
		}
		seen[id] = true
	}
	for _, s := range []string{"", "apr_", "apr_AAAAAAAAAAAAAAAAAAAAAAAAAA", "grt_aaaaaaaaaaaaaaaaaaaaaaaaaa", "apr_aaaaaaaaaaaaaaaaaaaaaaaaa1", "apr_aaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		if approval.IsID(s) {
			t.Errorf("IsID(%q) = true; want false", s)
		}
	}
}

func TestNew(t *testing.T) {
	east := time.FixedZone("east", 3600)
	created := time.Date(2026, time.March, 1, 13, 0, 0, 1234567, east)
	a := approval.New(key, created, created.Add(time.Hour))
	if err := a.Check(); err != nil {
		t.Fatalf("Check of a new approval = %v", err)
	}
	if a.Key() != key || a.Status != approval.Pending {
		t.Errorf("New = %+v; want pending, with the key", a)
	}
	if want := t0.Add(1234 * time.Microsecond); a.Created != want || a.Expires != want.Add(time.Hour) {
		t.Errorf("New times = %v, %v; want %v and an hour later, in UTC, to the microsecond", a.Created, a.Expires, want)
	}
}

func TestApply(t *testing.T) {
	pending := approval.New(key, t0, t0.Add(time.Hour))
	d := approval.Decision{Approve: true, By: "alice", Reason: "ok", Via: approval.ViaCLI, At: t0.Add(time.Minute)}
	approved, err := pending.Apply(d)
	if err != nil || approved.Status != approval.Approved || approved.DecidedBy != "alice" || !approved.DecidedAt.Equal(d.At) || approved.Via != approval.ViaCLI {
		t.Fatalf("Apply(approve) = %+v, %v; want approved by alice", approved, err)
	}
	if pending.Status != approval.Pending {
		t.Errorf("Apply modified its receiver: %+v", pending)
	}

	tests := []struct {
		name       string
		a          *approval.Approval
		d          approval.Decision
		write      string // status written, "" for none
		isDecided  bool
		isExpired  bool
		message    string
		decidedErr bool
	}{
		{"deny", pending, approval.Decision{By: "bob", Via: approval.ViaAPI, At: t0}, approval.Denied, false, false, "", false},
		{"at the expiry", pending, approval.Decision{Approve: true, By: "bob", Via: approval.ViaAPI, At: t0.Add(time.Hour)}, approval.Expired, false, true, "expired at 2026-03-01T13:00:00Z", true},
		{"already approved", approved, approval.Decision{By: "bob", Via: approval.ViaAPI, At: t0}, "", true, false, "already approved by alice at 2026-03-01T12:01:00Z: ok", true},
	}
	for _, tt := range tests {
		next, err := tt.a.Apply(tt.d)
		switch {
		case tt.write == "" && next != nil, tt.write != "" && (next == nil || next.Status != tt.write):
			t.Errorf("Apply(%s) writes %+v; want status %q", tt.name, next, tt.write)
		case errors.Is(err, approval.ErrDecided) != tt.isDecided || errors.Is(err, approval.ErrExpired) != tt.isExpired:
			t.Errorf("Apply(%s) = %v; want ErrDecided %v, ErrExpired %v", tt.name, err, tt.isDecided, tt.isExpired)
		case tt.decidedErr && !strings.Contains(err.Error(), tt.message):
			t.Errorf("Apply(%s) = %q; want it to contain %q", tt.name, err, tt.message)
		}
	}
}

// TestJSON checks the field names the admin API, the CLI's --json and the
// webhooks show.
func TestJSON(t *testing.T) {
	a := approval.New(key, t0, t0.Add(time.Hour))
	a.Preview = json.RawMessage(`{"userIds":["u1"]}`)
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "grant_id", "grant_label", "session", "server", "tool", "rule", "policy_reason", "preview", "digest", "created", "expires", "status"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s lacks %q", b, k)
		}
	}
	for _, k := range []string{"decided_by", "decided_at", "via", "consumed_at", "decision_reason"} {
		if _, ok := m[k]; ok {
			t.Errorf("JSON of a pending approval %s has %q", b, k)
		}
	}
	if got := m["preview"].(map[string]any)["userIds"]; got == nil {
		t.Errorf("JSON preview = %v; want the arguments as JSON", m["preview"])
	}
	next, _ := a.Apply(approval.Decision{Approve: true, By: "alice", Via: approval.ViaConsole, At: t0.Add(time.Minute)})
	b, _ = json.Marshal(next)
	if !strings.Contains(string(b), `"decided_by":"alice"`) || !strings.Contains(string(b), `"decided_at":"2026-03-01T12:01:00Z"`) || !strings.Contains(string(b), `"via":"console"`) {
		t.Errorf("JSON of a decided approval = %s; want decided_by, decided_at, via", b)
	}
}
