package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/oktasim"
)

// gatewayProc is `toolgate serve` running in its own process, so that a
// test can kill it as an operator's machine would.
type gatewayProc struct {
	cmd   *exec.Cmd
	url   string // the okta server's endpoint
	admin string // the admin API's base URL
	done  chan struct{}
	mu    sync.Mutex
	lines []string // guarded by mu
}

// startGateway runs `toolgate serve --config cfg` and waits until it
// serves.
func startGateway(t *testing.T, exe, cfg string) *gatewayProc {
	t.Helper()
	p := &gatewayProc{cmd: exec.Command(exe, "serve", "--config", cfg), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "TOOLGATE_ADMIN_TOKEN=tga_e2e-admin")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			if i := strings.Index(line, "agents="); i >= 0 && strings.Contains(line, "toolgate serving") {
				addr, _, _ := strings.Cut(line[i+len("agents="):], " ")
				if j := strings.Index(line, "admin="); j >= 0 {
					a, _, _ := strings.Cut(line[j+len("admin="):], " ")
					p.admin = "http://" + a
				}
				ready <- addr
			}
		}
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case addr := <-ready:
		p.url = "http://" + addr + "/mcp/okta"
	case <-p.done:
		t.Fatalf("gateway exited before serving:\n%s", p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not start:\n%s", p.log())
	}
	return p
}

func (p *gatewayProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// kill ends the gateway with SIGKILL: no shutdown, no flushing.
func (p *gatewayProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// agentSession connects to url as an agent holding token.
func agentSession(t *testing.T, url, token string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: bearerClient(token)}
	if token == "" {
		tr.HTTPClient = nil
	}
	cs, err := c.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// provision calls provision_applications n times at once on cs and returns
// how many were admitted and how many were limited.
func provision(t *testing.T, cs *mcp.ClientSession, sim *oktasim.Sim, n int) (admitted, limited int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	users, apps := sim.UserIDs(), sim.AppIDs()
	for i := range n {
		wg.Go(func() {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
				Name:      "provision_applications",
				Arguments: map[string]any{"userIds": []string{users[i%len(users)]}, "applicationIds": []string{apps[i%len(apps)]}},
			})
			if err != nil {
				t.Errorf("provision_applications: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			text := resultText(res)
			if res.IsError && strings.Contains(text, "limit provision_applications_rate") && strings.Contains(text, "reached") {
				limited++
				if !strings.Contains(text, "retry in ") {
					t.Errorf("limited without a retry time: %q", text)
				}
				d, _ := res.Meta["toolgate/decision"].(map[string]any)
				if s, ok := d["retry_after_seconds"].(float64); !ok || s < 1 || s > 60 {
					t.Errorf("_meta retry_after_seconds = %v; want 1..60", d["retry_after_seconds"])
				}
				return
			}
			admitted++
		})
	}
	wg.Wait()
	return admitted, limited
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func simUpstream(t *testing.T) (*oktasim.Sim, string) {
	sim := oktasim.New(nil)
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return sim.Server() }, nil))
	t.Cleanup(up.Close)
	return sim, up.URL
}

// TestSeedScenario is the product's headline promise: provision_applications
// stays usable but capped. Four agents each fire 50 calls at once; each gets
// exactly 30 through, and the upstream sees exactly 120. A gateway killed
// and restarted within the minute still admits nothing more.
func TestSeedScenario(t *testing.T) {
	exe := commandLink(t, "toolgate")
	dir := t.TempDir()
	sim, upURL := simUpstream(t)
	cfg := filepath.Join(dir, "toolgate.json")
	writeTestFile(t, filepath.Join(dir, "okta.json"), string(seedPolicy))
	writeTestFile(t, cfg, fmt.Sprintf(`{"listen": "127.0.0.1:0", "admin": {"listen": "127.0.0.1:0"},
  "mcpServers": {"okta": {"url": %q, "policy": "okta.json"}}}`, upURL))

	var tokens []string
	for i := range 4 {
		out, err := exec.Command(exe, "grant", "create", "--config", cfg, "--label", fmt.Sprintf("agent-%d", i), "--server", "okta", "--json").Output()
		if err != nil {
			t.Fatalf("grant create: %v", err)
		}
		var c struct{ Token string }
		if err := json.Unmarshal(out, &c); err != nil || c.Token == "" {
			t.Fatalf("grant create printed %s", out)
		}
		tokens = append(tokens, c.Token)
	}

	gw := startGateway(t, exe, cfg)
	var wg sync.WaitGroup
	for i, tok := range tokens {
		cs := agentSession(t, gw.url, tok)
		wg.Go(func() {
			admitted, limited := provision(t, cs, sim, 50)
			if admitted != 30 || limited != 20 {
				t.Errorf("agent-%d: %d admitted, %d limited; want 30 and 20", i, admitted, limited)
			}
		})
	}
	wg.Wait()
	if n := sim.Calls("provision_applications"); n != 120 {
		t.Fatalf("the upstream received %d provision_applications calls; want exactly 120", n)
	}

	// The operator sees the four budgets, each spent.
	cmd := exec.Command(exe, "counters", "--json", "--admin", gw.admin)
	cmd.Env = append(os.Environ(), "TOOLGATE_ADMIN_TOKEN=tga_e2e-admin")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("toolgate counters: %v", err)
	}
	var counters []struct {
		Counter, Scope, Owner string
		Used, Max             int64
	}
	if err := json.Unmarshal(out, &counters); err != nil {
		t.Fatalf("counters printed %s", out)
	}
	owners := map[string]bool{}
	for _, c := range counters {
		if c.Counter != "provision_applications_rate" || c.Scope != "grant" || c.Used != 30 || c.Max != 30 {
			t.Errorf("counter %+v; want provision_applications_rate, grant, 30/30", c)
		}
		owners[c.Owner] = true
	}
	if len(counters) != 4 || !owners["agent-0"] || !owners["agent-3"] {
		t.Errorf("counters = %s; want one per grant, by label", out)
	}

	gw.kill(t)
	gw = startGateway(t, exe, cfg)
	for i, tok := range tokens {
		cs := agentSession(t, gw.url, tok)
		if admitted, _ := provision(t, cs, sim, 1); admitted != 0 {
			t.Errorf("agent-%d: a call was admitted after the restart, within the window", i)
		}
	}
	if n := sim.Calls("provision_applications"); n != 120 {
		t.Errorf("after SIGKILL and restart the upstream received %d calls; want still 120", n)
	}
}

// TestReplicasShareBudgets runs three gateway processes on one Redis, each
// with the seed policy: together they admit exactly max.
func TestReplicasShareBudgets(t *testing.T) {
	redisURL := os.Getenv("TOOLGATE_TEST_REDIS")
	if redisURL == "" {
		t.Skip("set TOOLGATE_TEST_REDIS (e.g. redis://127.0.0.1:6379/0) to run the Redis replica test")
	}
	exe := commandLink(t, "toolgate")
	sim, upURL := simUpstream(t)
	// A counter of this run's own, so that a budget left in Redis by an
	// earlier run within the minute does not count.
	policy := strings.Replace(string(seedPolicy), `"provision_applications_rate"`, `"provision_applications_rate_`+randomHex(t)+`"`, 1)
	var gws []*gatewayProc
	for range 3 {
		dir := t.TempDir()
		writeTestFile(t, filepath.Join(dir, "okta.json"), policy)
		cfg := filepath.Join(dir, "toolgate.json")
		writeTestFile(t, cfg, fmt.Sprintf(`{"listen": "127.0.0.1:0", "admin": {"listen": "127.0.0.1:0"}, "auth": "none",
  "redis": %q, "mcpServers": {"okta": {"url": %q, "policy": "okta.json"}}}`, redisURL, upURL))
		gws = append(gws, startGateway(t, exe, cfg))
	}
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for _, gw := range gws {
		cs := agentSession(t, gw.url, "")
		wg.Go(func() {
			admitted, _ := provision(t, cs, sim, 50)
			mu.Lock()
			total += admitted
			mu.Unlock()
		})
	}
	wg.Wait()
	if n := sim.Calls("provision_applications"); total != 30 || n != 30 {
		t.Errorf("three replicas admitted %d calls (the upstream saw %d); want exactly 30", total, n)
	}
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
