package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	_ "modernc.org/sqlite"

	"github.com/toolgate/toolgate/internal/audit"
)

// cliOut runs the toolgate binary with args and returns its output and
// exit status.
func cliOut(t *testing.T, exe string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "TOOLGATE_ADMIN_TOKEN=tga_e2e-admin")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestApprovalsAndAuditCLI: an operator at a terminal. A call is held; the
// operator lists it and approves it with the CLI (on the state store, next
// to the running gateway) and the call goes through; another is denied with
// a reason; the audit command shows all of it and its filters work; verify
// passes, and then catches a record edited in the database.
func TestApprovalsAndAuditCLI(t *testing.T) {
	exe := commandLink(t, "toolgate")
	dir := t.TempDir()
	sim, upURL := simUpstream(t)
	cfg := filepath.Join(dir, "toolgate.json")
	writeTestFile(t, filepath.Join(dir, "okta.json"), `{"version": "1", "default": "deny", "tools": {
		"get_user": {}, "deactivate_user": {"action": "approve", "timeout": "30s"}}}`)
	writeTestFile(t, cfg, fmt.Sprintf(`{"listen": "127.0.0.1:0", "admin": {"listen": "127.0.0.1:0"}, "auth": "none",
  "mcpServers": {"okta": {"url": %q, "policy": "okta.json"}}}`, upURL))
	gw := startGateway(t, exe, cfg)
	cs := agentSession(t, gw.url, "")
	users := sim.UserIDs()

	if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_user", Arguments: map[string]any{"userId": users[0]}}); err != nil || res.IsError {
		t.Fatalf("get_user = %v, %v", res, err)
	}
	held := func(user string) <-chan *mcp.CallToolResult {
		ch := make(chan *mcp.CallToolResult, 1)
		go func() {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "deactivate_user", Arguments: map[string]any{"userId": user}})
			if err != nil {
				t.Errorf("deactivate_user: %v", err)
			}
			ch <- res
		}()
		return ch
	}
	pendingID := func() string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			out, code := cliOut(t, exe, "approvals", "list", "--config", cfg, "--json")
			var list []struct{ ID, Tool, Status string }
			if code == 0 && json.Unmarshal([]byte(out), &list) == nil && len(list) > 0 {
				return list[0].ID
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no pending approval listed")
		return ""
	}

	first := held(users[1])
	id := pendingID()
	out, code := cliOut(t, exe, "approvals", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "deactivate_user") || !strings.Contains(out, users[1]) {
		t.Errorf("approvals list = %d\n%s", code, out)
	}
	if out, code := cliOut(t, exe, "approvals", "approve", id, "--config", cfg, "--by", "carol", "--reason", "offboarding ticket 9"); code != 0 || !strings.Contains(out, "approved by carol") {
		t.Fatalf("approvals approve = %d\n%s", code, out)
	}
	select {
	case res := <-first:
		if res == nil || res.IsError {
			t.Fatalf("held call after approval = %+v", res)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the held call was not released by an approval made with the CLI")
	}
	if out, code := cliOut(t, exe, "approvals", "deny", id, "--config", cfg, "--reason", "late"); code != 1 || !strings.Contains(out, "already approved by carol") {
		t.Errorf("deciding again = %d\n%s; want a clear refusal", code, out)
	}
	if _, code := cliOut(t, exe, "approvals", "deny", "x", "--config", cfg); code != 2 {
		t.Errorf("deny without a reason = %d; want 2", code)
	}

	second := held(users[2])
	id2 := pendingID()
	// Through the running gateway's admin API this time.
	if out, code := cliOut(t, exe, "approvals", "deny", id2, "--admin", gw.admin, "--reason", "not this one"); code != 0 {
		t.Fatalf("approvals deny --admin = %d\n%s", code, out)
	}
	if res := <-second; res == nil || !res.IsError || !strings.Contains(resultText(res), "not this one") {
		t.Errorf("denied call = %+v", res)
	}
	if n := sim.Calls("deactivate_user"); n != 1 {
		t.Errorf("upstream deactivations = %d; want 1", n)
	}

	// The trail, through the state store and through the admin API.
	waitAudit := func(n int) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			out, _ := cliOut(t, exe, "audit", "--config", cfg, "--jsonl")
			if strings.Count(out, "\n") >= n || time.Now().After(deadline) {
				return out
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	jsonl := waitAudit(3)
	var recs []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit --jsonl line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 || recs[0].Decision != "allow" || recs[1].Decision != "approved" || recs[2].Decision != "approval_denied" {
		t.Fatalf("records = %+v", recs)
	}
	if a := recs[1].Approval; a == nil || !strings.Contains(a.DecidedBy, "carol") || a.Reason != "offboarding ticket 9" {
		t.Errorf("approved record's approval = %+v", a)
	}
	out, code = cliOut(t, exe, "audit", "--config", cfg, "--decision", "approved")
	if code != 0 || !strings.Contains(out, "SEQ") || !strings.Contains(out, "deactivate_user") || strings.Contains(out, "get_user") {
		t.Errorf("audit --decision approved = %d\n%s", code, out)
	}
	out, code = cliOut(t, exe, "audit", "--admin", gw.admin, "--tool", "get_user", "--since", "1h")
	if code != 0 || !strings.Contains(out, "get_user") || strings.Contains(out, "deactivate_user") {
		t.Errorf("audit --admin --tool get_user = %d\n%s", code, out)
	}
	if out, code := cliOut(t, exe, "audit", "verify", "--config", cfg); code != 0 || !strings.Contains(out, "3 records verified") {
		t.Errorf("audit verify = %d\n%s", code, out)
	}

	// Someone with access to the database rewrites a decision.
	db, err := sql.Open("sqlite", filepath.Join(dir, "toolgate-data", "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE records SET decision = 'allow' WHERE seq = 3`); err != nil {
		t.Fatalf("tamper: %v", err)
	}
	db.Close()
	out, code = cliOut(t, exe, "audit", "verify", "--config", cfg)
	if code != 1 || !strings.Contains(out, "record 3: edited") || !strings.Contains(out, "tampered") {
		t.Errorf("audit verify after an edit = %d\n%s", code, out)
	}
}

// TestAuditSurvivesKill: with audit.sync, every call whose answer reached
// the agent has its record after SIGKILL; by default, nothing written more
// than a second before the kill is lost.
func TestAuditSurvivesKill(t *testing.T) {
	for _, durable := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync=%v", durable), func(t *testing.T) {
			exe := commandLink(t, "toolgate")
			dir := t.TempDir()
			_, upURL := simUpstream(t)
			cfg := filepath.Join(dir, "toolgate.json")
			writeTestFile(t, filepath.Join(dir, "okta.json"), `{"version": "1", "default": "deny", "tools": {"list_groups": {}}}`)
			writeTestFile(t, cfg, fmt.Sprintf(`{"listen": "127.0.0.1:0", "admin": {"listen": "127.0.0.1:0"}, "auth": "none",
  "audit": {"sync": %v}, "mcpServers": {"okta": {"url": %q, "policy": "okta.json"}}}`, durable, upURL))
			gw := startGateway(t, exe, cfg)
			cs := agentSession(t, gw.url, "")

			// Calls answered, each with the time its answer arrived.
			var mu sync.Mutex
			var answered []time.Time
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for ctx.Err() == nil {
						res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_groups"})
						if err != nil || res.IsError {
							return
						}
						mu.Lock()
						answered = append(answered, time.Now())
						mu.Unlock()
					}
				})
			}
			deadline := time.Now().Add(1500 * time.Millisecond)
			for time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			killedAt := time.Now()
			gw.kill(t)
			stop()
			wg.Wait()

			out, code := cliOut(t, exe, "audit", "--config", cfg, "--limit", "0", "--json")
			if code != 0 {
				t.Fatalf("audit after the kill = %d\n%s", code, out)
			}
			var recs []audit.Record
			if err := json.Unmarshal([]byte(out), &recs); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			must := 0
			for _, at := range answered {
				if durable || at.Before(killedAt.Add(-time.Second)) {
					must++
				}
			}
			if len(answered) < 20 || must == 0 {
				t.Fatalf("only %d calls answered (%d must be kept); too few to tell", len(answered), must)
			}
			if len(recs) < must {
				t.Errorf("%d records after the kill; want at least the %d answered calls that must be kept", len(recs), must)
			}
			if out, code := cliOut(t, exe, "audit", "verify", "--config", cfg); code != 0 {
				t.Errorf("audit verify after the kill = %d\n%s", code, out)
			}
			t.Logf("sync=%v: %d answered, %d must be kept, %d records", durable, len(answered), must, len(recs))
		})
	}
}
