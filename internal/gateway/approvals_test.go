package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/oktasim"
)

const approvalPolicy = `{"version": "1", "default": "deny", "tools": {
	"deactivate_user": {"action": "approve", "timeout": "20s"},
	"suspend_user": {"action": "approve", "timeout": "300ms"},
	"get_user": {"action": "approve", "elicit": true, "timeout": "20s"},
	"provision_applications": {"approve_if": ["size(args.userIds) > 2"], "timeout": "20s",
		"limits": [{"counter": "grants", "window": "minute", "max": 100, "scope": "server"}]}}}`

// callResult is one call's answer.
type callResult struct {
	text string
	ok   bool
	meta map[string]any
	err  error
}

func call(cs *mcp.ClientSession, tool string, args map[string]any) callResult {
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return callResult{err: err}
	}
	m, _ := res.Meta["toolgate/decision"].(map[string]any)
	return callResult{text: callText(res), ok: !res.IsError, meta: m}
}

// callAsync starts a call and returns where its answer arrives.
func callAsync(cs *mcp.ClientSession, tool string, args map[string]any) <-chan callResult {
	ch := make(chan callResult, 1)
	go func() { ch <- call(cs, tool, args) }()
	return ch
}

// pending waits for n pending approvals and returns them, newest first.
func (h *harness) pending(n int) []*approval.Approval {
	h.t.Helper()
	var list []*approval.Approval
	waitFor(h.t, "pending approvals", func() bool {
		list = nil
		h.api("GET", "/api/v1/approvals?status=pending", nil, &list)
		return len(list) >= n
	})
	return list
}

func (h *harness) decide(id, action, reason string) (int, map[string]any) {
	var out map[string]any
	code := h.api("POST", "/api/v1/approvals/"+id+"/"+action, DecideRequest{Reason: reason, By: "alice"}, &out)
	return code, out
}

func TestApprovalHoldThenApprove(t *testing.T) {
	h := start(t, approvalPolicy)
	cs := h.connect()
	user := h.sim.UserIDs()[0]
	got := callAsync(cs, "deactivate_user", map[string]any{"userId": user, "password": "hunter2"})
	a := h.pending(1)[0]
	if a.Tool != "deactivate_user" || a.Server != "okta" || a.Digest == "" || a.Expires.Sub(a.Created) != config.DefaultApprovalExpire {
		t.Errorf("approval = %+v", a)
	}
	if strings.Contains(string(a.Preview), "hunter2") || !strings.Contains(string(a.Preview), user) {
		t.Errorf("preview %s: want the arguments with the password redacted", a.Preview)
	}
	if h.sim.Calls("deactivate_user") != 0 {
		t.Fatal("the held call reached the upstream before approval")
	}
	if code, out := h.decide(a.ID, "approve", "ticket 42"); code != 200 || out["status"] != "approved" || out["decided_by"] != "alice" {
		t.Fatalf("approve = %d %v", code, out)
	}
	r := <-got
	if !r.ok || r.err != nil {
		t.Fatalf("held call after approval = %+v", r)
	}
	if h.sim.Calls("deactivate_user") != 1 {
		t.Errorf("upstream calls = %d; want 1", h.sim.Calls("deactivate_user"))
	}
	// The approval was used: the same call again is held anew.
	again := callAsync(cs, "deactivate_user", map[string]any{"userId": user, "password": "hunter2"})
	b := h.pending(1)[0]
	if b.ID == a.ID {
		t.Errorf("a used approval was reused")
	}
	h.decide(b.ID, "deny", "")
	if r := <-again; r.ok {
		t.Error("second call passed on a used approval")
	}
}

func TestApprovalHoldThenDenyWithReason(t *testing.T) {
	h := start(t, approvalPolicy)
	cs := h.connect()
	got := callAsync(cs, "deactivate_user", map[string]any{"userId": h.sim.UserIDs()[0]})
	a := h.pending(1)[0]
	if code, _ := h.decide(a.ID, "deny", "not during the freeze"); code != 200 {
		t.Fatalf("deny = %d", code)
	}
	r := <-got
	if r.ok || !strings.Contains(r.text, "denied by alice: not during the freeze") || r.meta["decision"] != "approval_denied" || r.meta["approval_id"] != a.ID {
		t.Errorf("denied call = %+v; want the approver's reason", r)
	}
	if h.sim.Calls("deactivate_user") != 0 {
		t.Error("a denied call reached the upstream")
	}
}

func TestApprovalTimeoutThenRetryOnce(t *testing.T) {
	h := start(t, approvalPolicy)
	cs := h.connect()
	args := map[string]any{"userId": h.sim.UserIDs()[0]}
	r := call(cs, "suspend_user", args)
	if r.ok || r.meta["decision"] != "approval_pending" || !strings.Contains(r.text, "retry the same call later") {
		t.Fatalf("timed-out call = %+v", r)
	}
	id, _ := r.meta["approval_id"].(string)
	if !approval.IsID(id) || !strings.Contains(r.text, id) {
		t.Fatalf("the agent is not told the approval id: %+v", r)
	}
	// A retry before the decision waits on the same approval.
	if r2 := call(cs, "suspend_user", args); r2.meta["approval_id"] != id {
		t.Errorf("retry while pending made approval %v; want %s", r2.meta["approval_id"], id)
	}
	// Changed arguments are another call: not covered by this approval.
	other := map[string]any{"userId": h.sim.UserIDs()[1]}
	if r3 := call(cs, "suspend_user", other); r3.meta["approval_id"] == id {
		t.Error("a call with other arguments waits on the same approval")
	}
	if code, _ := h.decide(id, "approve", "ok"); code != 200 {
		t.Fatal("approve failed")
	}
	if r := call(cs, "suspend_user", other); r.ok {
		t.Error("a call with other arguments passed on the approval")
	}
	if r := call(cs, "suspend_user", args); !r.ok {
		t.Fatalf("retry after approval = %+v; want it through", r)
	}
	if r := call(cs, "suspend_user", args); r.ok || r.meta["decision"] != "approval_pending" || r.meta["approval_id"] == id {
		t.Errorf("second retry = %+v; want it held again under a new approval", r)
	}
	if n := h.sim.Calls("suspend_user"); n != 1 {
		t.Errorf("upstream calls = %d; want exactly 1", n)
	}
}

func TestApprovalRacingApprovers(t *testing.T) {
	h := start(t, approvalPolicy)
	cs := h.connect()
	got := callAsync(cs, "deactivate_user", map[string]any{"userId": h.sim.UserIDs()[0]})
	a := h.pending(1)[0]
	var wg sync.WaitGroup
	codes := make([]int, 8)
	outs := make([]map[string]any, 8)
	for i := range codes {
		action := "approve"
		if i%2 == 1 {
			action = "deny"
		}
		wg.Go(func() { codes[i], outs[i] = h.decide(a.ID, action, "racer") })
	}
	wg.Wait()
	wins := 0
	for i, c := range codes {
		switch c {
		case 200:
			wins++
		case 409:
			if msg, _ := outs[i]["error"].(string); !strings.Contains(msg, "already") || !strings.Contains(msg, "alice") {
				t.Errorf("loser's answer %q does not say who decided", msg)
			}
		default:
			t.Errorf("decide = %d %v", c, outs[i])
		}
	}
	if wins != 1 {
		t.Errorf("%d decisions won; want exactly 1", wins)
	}
	<-got
}

// TestApprovalProgressWhileHeld: a held call reports that it waits, under
// the agent's own progress token, on the fast path (a stateful session)
// and on the SDK's (the sessionless revision).
func TestApprovalProgressWhileHeld(t *testing.T) {
	h := start(t, approvalPolicy)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			var mu sync.Mutex
			var got []*mcp.ProgressNotificationParams
			c := mcp.NewClient(&mcp.Implementation{Name: "agent"}, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					mu.Lock()
					got = append(got, r.Params)
					mu.Unlock()
				},
			})
			cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: h.url}, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			done := make(chan error, 1)
			token := "tok-" + version
			go func() {
				_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
					Meta: mcp.Meta{"progressToken": token}, Name: "deactivate_user", Arguments: map[string]any{"userId": h.sim.UserIDs()[3]}})
				done <- err
			}()
			a := h.pending(1)[0]
			waitFor(t, "a progress notification", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) > 0
			})
			mu.Lock()
			if p := got[0]; p.ProgressToken != token || !strings.Contains(p.Message, a.ID) || !strings.Contains(p.Message, "waiting for a person's approval") {
				t.Errorf("progress = %+v; want the agent's token %q and the approval named", p, token)
			}
			mu.Unlock()
			h.decide(a.ID, "approve", "")
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestApprovalElicitation(t *testing.T) {
	h := start(t, approvalPolicy)
	for _, tc := range []struct {
		name   string
		answer *mcp.ElicitResult
		wantOK bool
	}{
		{"accepted", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approve": true, "reason": "it's me"}}, true},
		{"accepted but not approved", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approve": false}}, false},
		{"declined", &mcp.ElicitResult{Action: "decline"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked atomic.Value
			c := mcp.NewClient(&mcp.Implementation{Name: "desktop"}, &mcp.ClientOptions{
				ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					asked.Store(r.Params.Message)
					return tc.answer, nil
				},
			})
			// Servers may ask while serving a request up to 2025-11-25.
			cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: h.url}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			before := h.sim.Calls("get_user")
			r := call(cs, "get_user", map[string]any{"userId": h.sim.UserIDs()[2]})
			msg, _ := asked.Load().(string)
			if !strings.Contains(msg, "get_user") {
				t.Errorf("the user was asked %q; want the tool named", msg)
			}
			if r.ok != tc.wantOK {
				t.Errorf("call = %+v; want ok=%v", r, tc.wantOK)
			}
			if want := before + map[bool]int64{true: 1, false: 0}[tc.wantOK]; h.sim.Calls("get_user") != want {
				t.Errorf("upstream calls = %d; want %d", h.sim.Calls("get_user"), want)
			}
			var decided []*approval.Approval
			h.api("GET", "/api/v1/approvals?limit=1", nil, &decided)
			if len(decided) != 1 || decided[0].Via != approval.ViaElicitation {
				t.Errorf("approval = %+v; want one decided via elicitation", decided)
			}
		})
	}
}

func TestApprovalApproveIfCondition(t *testing.T) {
	h := start(t, approvalPolicy)
	cs := h.connect()
	apps := h.sim.AppIDs()[:1]
	if r := call(cs, "provision_applications", map[string]any{"userIds": h.sim.UserIDs()[:2], "applicationIds": apps}); !r.ok {
		t.Fatalf("small provisioning = %+v; want it through without approval", r)
	}
	got := callAsync(cs, "provision_applications", map[string]any{"userIds": h.sim.UserIDs()[:3], "applicationIds": apps})
	a := h.pending(1)[0]
	if a.Rule != "/tools/provision_applications/approve_if/0" {
		t.Errorf("rule = %q", a.Rule)
	}
	h.decide(a.ID, "approve", "")
	if r := <-got; !r.ok {
		t.Errorf("approved large provisioning = %+v", r)
	}
	var counters []Counter
	h.api("GET", "/api/v1/counters", nil, &counters)
	if len(counters) != 1 || counters[0].Used != 2 {
		t.Errorf("counters = %+v; want both calls spent from the limit", counters)
	}
}

// TestApprovalSurvivesRestart holds a call, stops the gateway while the
// approval is pending, approves it with no gateway running (as the CLI does,
// on the state store), and retries on a new gateway.
func TestApprovalSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	sim := oktasim.New(nil)
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return sim.Server() }, nil))
	defer up.Close()
	writeFile(t, filepath.Join(dir, "okta.json"), approvalPolicy)
	writeFile(t, filepath.Join(dir, "toolgate.json"), `{"auth": "none", "mcpServers": {"okta": {"url": "`+up.URL+`", "policy": "okta.json"}}}`)
	open := func() (*Gateway, *mcp.ClientSession) {
		cfg, err := config.Load(filepath.Join(dir, "toolgate.json"), os.LookupEnv)
		if err != nil {
			t.Fatal(err)
		}
		g, err := New(cfg, &Options{Notice: io.Discard, Getenv: testGetenv, PollInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(g.Handler())
		t.Cleanup(srv.Close)
		c := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil)
		cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp/okta"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return g, cs
	}
	args := map[string]any{"userId": sim.UserIDs()[0]}
	g, cs := open()
	r := call(cs, "suspend_user", args)
	id, _ := r.meta["approval_id"].(string)
	if r.ok || id == "" {
		t.Fatalf("first call = %+v; want it pending", r)
	}
	cs.Close()
	g.Close()

	cfg, _ := config.Load(filepath.Join(dir, "toolgate.json"), os.LookupEnv)
	st, err := OpenApprovals(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Decide(context.Background(), id, approval.Decision{Approve: true, By: "bob", Via: approval.ViaCLI, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	g, cs = open()
	defer g.Close()
	defer cs.Close()
	if r := call(cs, "suspend_user", args); !r.ok {
		t.Fatalf("retry after a restart and an offline approval = %+v", r)
	}
	if sim.Calls("suspend_user") != 1 {
		t.Errorf("upstream calls = %d; want 1", sim.Calls("suspend_user"))
	}
}

// TestApprovalWebhook configures a webhook: the new approval is posted
// to it with signed links; a tampered link is refused; the real one, posted
// as its page's form does, approves the held call.
func TestApprovalWebhook(t *testing.T) {
	type hook struct {
		body      []byte
		signature string
		timestamp string
	}
	hooks := make(chan hook, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- hook{b, r.Header.Get("X-Toolgate-Signature"), r.Header.Get("X-Toolgate-Timestamp")}
	}))
	defer receiver.Close()
	h := startWith(t, approvalPolicy, `"approvals": {"webhooks": [{"url": "`+receiver.URL+`", "secret": "hook-secret"}]},`)
	cs := h.connect()
	got := callAsync(cs, "deactivate_user", map[string]any{"userId": h.sim.UserIDs()[0]})
	var hk hook
	select {
	case hk = <-hooks:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook")
	}
	mac := hmac.New(sha256.New, []byte("hook-secret"))
	mac.Write([]byte(hk.timestamp + "." + string(hk.body)))
	if hk.signature != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("webhook signature %q does not verify", hk.signature)
	}
	var payload struct {
		ApproveURL string `json:"approve_url"`
		DenyURL    string `json:"deny_url"`
		ID         string `json:"id"`
		Tool       string `json:"tool"`
	}
	if err := json.Unmarshal(hk.body, &payload); err != nil || payload.ApproveURL == "" || payload.Tool != "deactivate_user" {
		t.Fatalf("webhook payload %s: %v", hk.body, err)
	}
	if !strings.HasPrefix(payload.ApproveURL, h.admin+"/approvals/") {
		t.Errorf("approve link %s is not on the admin listener %s", payload.ApproveURL, h.admin)
	}
	u, _ := url.Parse(payload.ApproveURL)
	q := u.Query()
	q.Set("sig", strings.Repeat("0", len(q.Get("sig"))))
	forged := *u
	forged.RawQuery = q.Encode()
	resp, err := http.PostForm(forged.String(), url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged link = %d; want 403", resp.StatusCode)
	}
	select {
	case r := <-got:
		t.Fatalf("the call ended on a forged link: %+v", r)
	default:
	}
	// GET shows a page and decides nothing; POST decides.
	resp, err = http.Get(payload.ApproveURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET link = %d", resp.StatusCode)
	}
	resp, err = http.PostForm(payload.ApproveURL, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST link = %d", resp.StatusCode)
	}
	if r := <-got; !r.ok {
		t.Errorf("call after the link approved it = %+v", r)
	}
}
