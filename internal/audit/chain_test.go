package audit_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
)

// full returns a record with every field set.
func full() *audit.Record {
	t := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	return &audit.Record{
		Time: t, RequestID: "7", GrantID: "grt_aaaaaaaaaaaaaaaa", GrantLabel: "ci-runner", Session: "s1", User: "ann",
		Server: "okta", Method: "tools/call", Tool: "deactivate_user", Decision: audit.DecisionApproved,
		Rule: "/tools/deactivate_user/action", Message: "approved by bob",
		Counters: []audit.CounterUse{{Counter: "deactivations", Rule: "/tools/deactivate_user/limits/0", Scope: "grant",
			Key: "grt_aaaaaaaaaaaaaaaa", Cost: 1, Max: 5, Window: time.Hour, Denied: false}},
		UpstreamStatus: audit.UpstreamOK, UpstreamLatency: 12 * time.Millisecond, Overhead: 90 * time.Microsecond,
		ArgKeys: []string{"userId"}, ArgDigest: strings.Repeat("0", 64), Args: json.RawMessage(`{"userId":"00u1"}`),
		Approval: &audit.ApprovalInfo{ID: "apr_1", DecidedBy: "bob", DecidedAt: t.Add(time.Minute), Reason: "ticket 9"},
	}
}

// TestSumGolden pins the hash encoding: records stored by earlier versions
// must keep verifying. A change here needs a new hashVersion.
func TestSumGolden(t *testing.T) {
	r := full()
	r.Seal(42, strings.Repeat("ab", 32))
	const want = "404ec1fa55992294295aed0c7b6f7381676e3dd14fe1ac57756b1c679ede1a33"
	if r.Hash != want {
		t.Fatalf("Hash = %s; want %s", r.Hash, want)
	}
}

// TestSumEncoding checks Sum against the encoding as documented, written
// out by hand, for a verifier written in another language.
func TestSumEncoding(t *testing.T) {
	tm := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := &audit.Record{Time: tm, Decision: "allow", Tool: "t"}
	r.Seal(1, "p")
	var b []byte
	b = append(b, "toolgate audit record v1\n"...)
	b = append(b, 1, 'p')                                        // Prev
	b = binary.BigEndian.AppendUint64(b, 1)                      // Seq
	b = binary.BigEndian.AppendUint64(b, uint64(tm.UnixMicro())) // Time
	b = append(b, 0, 0, 0, 0, 0, 0, 0)                           // RequestID to Method
	b = append(b, 1, 't')                                        // Tool
	b = append(b, 5, 'a', 'l', 'l', 'o', 'w')                    // Decision
	b = append(b, 0, 0)                                          // Rule, Message
	b = append(b, 0)                                             // Counters
	b = append(b, 0)                                             // UpstreamStatus
	b = append(b, make([]byte, 16)...)                           // UpstreamLatency, Overhead
	b = append(b, 0, 0)                                          // ArgKeys, ArgDigest
	b = append(b, 0, 0)                                          // Args, Approval: nil
	h := sha256.Sum256(b)
	if want := hex.EncodeToString(h[:]); r.Hash != want {
		t.Fatalf("Hash = %s; want %s, the SHA-256 of the documented encoding", r.Hash, want)
	}
}

// TestSumCoversEveryField checks that changing any field changes the hash,
// and that the list of changes covers every field of Record.
func TestSumCoversEveryField(t *testing.T) {
	changes := map[string]func(r *audit.Record){
		"Seq":             func(r *audit.Record) { r.Seq++ },
		"Time":            func(r *audit.Record) { r.Time = r.Time.Add(time.Microsecond) },
		"RequestID":       func(r *audit.Record) { r.RequestID += "x" },
		"GrantID":         func(r *audit.Record) { r.GrantID += "x" },
		"GrantLabel":      func(r *audit.Record) { r.GrantLabel += "x" },
		"Session":         func(r *audit.Record) { r.Session += "x" },
		"User":            func(r *audit.Record) { r.User += "x" },
		"Server":          func(r *audit.Record) { r.Server += "x" },
		"Method":          func(r *audit.Record) { r.Method += "x" },
		"Tool":            func(r *audit.Record) { r.Tool += "x" },
		"Decision":        func(r *audit.Record) { r.Decision = audit.DecisionDeny },
		"Rule":            func(r *audit.Record) { r.Rule += "x" },
		"Message":         func(r *audit.Record) { r.Message += "x" },
		"Counters":        func(r *audit.Record) { r.Counters = nil },
		"UpstreamStatus":  func(r *audit.Record) { r.UpstreamStatus = audit.UpstreamError },
		"UpstreamLatency": func(r *audit.Record) { r.UpstreamLatency++ },
		"Overhead":        func(r *audit.Record) { r.Overhead++ },
		"ArgKeys":         func(r *audit.Record) { r.ArgKeys = append(r.ArgKeys, "x") },
		"ArgDigest":       func(r *audit.Record) { r.ArgDigest = strings.Repeat("1", 64) },
		"Args":            func(r *audit.Record) { r.Args = nil },
		"Approval":        func(r *audit.Record) { r.Approval = nil },
		"Prev":            func(r *audit.Record) { r.Prev += "x" },
		"Hash":            nil, // not hashed

		"Counters.Counter": func(r *audit.Record) { r.Counters[0].Counter += "x" },
		"Counters.Rule":    func(r *audit.Record) { r.Counters[0].Rule += "x" },
		"Counters.Scope":   func(r *audit.Record) { r.Counters[0].Scope = "user" },
		"Counters.Key":     func(r *audit.Record) { r.Counters[0].Key += "x" },
		"Counters.Cost":    func(r *audit.Record) { r.Counters[0].Cost++ },
		"Counters.Max":     func(r *audit.Record) { r.Counters[0].Max++ },
		"Counters.Window":  func(r *audit.Record) { r.Counters[0].Window++ },
		"Counters.Denied":  func(r *audit.Record) { r.Counters[0].Denied = true },

		"Approval.ID":        func(r *audit.Record) { r.Approval.ID += "x" },
		"Approval.DecidedBy": func(r *audit.Record) { r.Approval.DecidedBy += "x" },
		"Approval.DecidedAt": func(r *audit.Record) { r.Approval.DecidedAt = r.Approval.DecidedAt.Add(time.Microsecond) },
		"Approval.Reason":    func(r *audit.Record) { r.Approval.Reason += "x" },

		// Bytes moved between neighbours.
		"Session|User": func(r *audit.Record) { r.Session, r.User = r.Session+"a", strings.TrimPrefix(r.User, "a") },
		"Args empty":   func(r *audit.Record) { r.Args = json.RawMessage{} },
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[audit.Record](), reflect.TypeFor[audit.CounterUse](), reflect.TypeFor[audit.ApprovalInfo]()} {
		prefix := map[string]string{"Record": "", "CounterUse": "Counters.", "ApprovalInfo": "Approval."}[typ.Name()]
		for f := range typ.Fields() {
			if _, ok := changes[prefix+f.Name]; !ok {
				t.Errorf("no change of %s%s: is it hashed?", prefix, f.Name)
			}
		}
	}
	base := full()
	base.Seal(1, "")
	for name, change := range changes {
		if change == nil {
			continue
		}
		r := full()
		r.Seal(1, "")
		change(r)
		if r.Sum() == base.Hash {
			t.Errorf("changing %s leaves the hash unchanged", name)
		}
	}
}

// TestVerifier covers what the stores' suite cannot make: damage to the
// chain's bookkeeping rather than to the records.
func TestVerifier(t *testing.T) {
	chain := func(from, n int64, prev string) []*audit.Record {
		var recs []*audit.Record
		for i := range n {
			r := &audit.Record{Decision: "allow", RequestID: fmt.Sprint(from + i)}
			r.Seal(from+i, prev)
			prev = r.Hash
			recs = append(recs, r)
		}
		return recs
	}
	recs := chain(1, 5, "")
	tests := []struct {
		name      string
		anchorSeq int64
		anchor    string
		recs      []*audit.Record
		headSeq   int64
		head      string
		want      []string
	}{
		{"intact", 0, "", recs, 5, recs[4].Hash, nil},
		{"empty", 0, "", nil, 0, "", nil},
		{"after a prune", 2, recs[1].Hash, recs[2:], 5, recs[4].Hash, nil},
		{"all pruned", 5, recs[4].Hash, nil, 5, recs[4].Hash, nil},
		{"first links elsewhere", 0, "", chain(1, 2, "ff"), 2, chain(1, 2, "ff")[1].Hash,
			[]string{"1 broken: the first record links"}},
		{"anchor changed", 2, "00", recs[2:], 5, recs[4].Hash, []string{"3 broken: anchor"}},
		{"everything deleted", 0, "", nil, 5, recs[4].Hash, []string{"1 deleted: records 1 to 5"}},
		{"head behind", 0, "", recs, 3, recs[2].Hash, []string{"4 broken: added outside"}},
		{"head changed", 0, "", recs, 5, "00", []string{"5 edited: the head"}},
		{"head differs from anchor", 5, recs[4].Hash, nil, 5, "00", []string{"5 broken: the head does not match"}},
		{"record before the anchor", 2, recs[1].Hash, recs[1:], 5, recs[4].Hash, []string{"2 broken: should have been pruned"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := audit.NewVerifier(tt.anchorSeq, tt.anchor)
			for _, r := range tt.recs {
				c := *r
				v.Add(&c, nil)
			}
			rep := v.Report(tt.headSeq, tt.head)
			if len(rep.Problems) != len(tt.want) || rep.OK() != (len(tt.want) == 0) {
				t.Fatalf("Report = %v; want %v", rep.Problems, tt.want)
			}
			for i, w := range tt.want {
				p := rep.Problems[i]
				seqKind, detail, _ := strings.Cut(w, ": ")
				if fmt.Sprintf("%d %s", p.Seq, p.Kind) != seqKind || !strings.Contains(p.Detail, detail) {
					t.Errorf("Problem %d = %v; want %s", i, p, w)
				}
			}
		})
	}
}

// TestVerifierTruncates checks that a chain damaged everywhere gives a
// bounded report, in Seq order.
func TestVerifierTruncates(t *testing.T) {
	v := audit.NewVerifier(0, "")
	prev := ""
	const n = 1000
	for i := range int64(n) {
		r := &audit.Record{Decision: "allow"}
		r.Seal(i+1, prev)
		prev = r.Hash
		r.Message = "edited"
		v.Add(r, nil)
	}
	rep := v.Report(n, prev)
	if len(rep.Problems) != audit.MaxProblems || !rep.Truncated || rep.OK() {
		t.Fatalf("Report of %d edited records = %d problems, truncated %v; want %d, truncated", n, len(rep.Problems), rep.Truncated, audit.MaxProblems)
	}
	for i, p := range rep.Problems {
		if p.Seq != int64(i+1) || p.Kind != audit.KindEdited {
			t.Fatalf("Problem %d = %v; want record %d edited", i, p, i+1)
		}
	}
}

func TestStretch(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := audit.NewStretch(7, "aa", t0)
	if seq, hash, err := s.End(); seq != 7 || hash != "aa" || err != nil {
		t.Fatalf("End of an empty stretch = %d, %q, %v; want the anchor", seq, hash, err)
	}
	r := &audit.Record{Time: t0.Add(-time.Second), Decision: "allow"}
	r.Seal(8, "aa")
	newer := &audit.Record{Time: t0, Decision: "allow"}
	newer.Seal(9, r.Hash)
	if !s.Add(r, nil) || s.Add(newer, nil) || s.More(1) {
		t.Fatal("Stretch took a record not older than its time, or wants more after it")
	}
	if seq, hash, err := s.End(); seq != 8 || hash != r.Hash || err != nil {
		t.Fatalf("End = %d, %q, %v; want record 8", seq, hash, err)
	}
}

func TestProblemString(t *testing.T) {
	p := audit.Problem{Seq: 42, Kind: audit.KindDeleted, Detail: "record 42 is missing"}
	if got, want := p.String(), "record 42: deleted: record 42 is missing"; got != want {
		t.Fatalf("String = %q; want %q", got, want)
	}
}
