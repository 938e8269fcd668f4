package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/audit"
)

// roundRobin sends each HTTP request to the next replica in turn, as a
// load balancer without stickiness does.
type roundRobin struct {
	hosts []string // host:port of each replica's agent listener
	n     atomic.Int64
	token string
}

func (rr *roundRobin) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = rr.hosts[int(rr.n.Add(1)-1)%len(rr.hosts)]
	r.Host = r.URL.Host
	if rr.token != "" {
		r.Header.Set("Authorization", "Bearer "+rr.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestThreeReplicas runs three gateways on the local Redis and PostgreSQL
// and checks they behave as one: a client whose every request goes to the
// next replica gets exactly the seed budget in total; a grant revoked on
// one replica is refused by another at its next request; an approval
// decided on one replica releases the retry on another; and killing a
// replica under load loses no record of a call that completed.
func TestThreeReplicas(t *testing.T) {
	redisURL, pgURL := os.Getenv("TOOLGATE_TEST_REDIS"), os.Getenv("TOOLGATE_TEST_POSTGRES")
	if redisURL == "" || pgURL == "" {
		t.Skip("set TOOLGATE_TEST_REDIS and TOOLGATE_TEST_POSTGRES to run the replica test")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "toolgate_replicas_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		pool, err := pgxpool.New(context.Background(), pgURL)
		if err == nil {
			_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`)
			pool.Close()
		}
	})
	exe := commandLink(t, "toolgate")
	sim, upURL := simUpstream(t)
	counter := "provision_applications_rate_" + randomHex(t)
	policy := `{"version": "1", "default": "deny", "tools": {
  "provision_applications": {"limits": [{"counter": "` + counter + `", "window": "minute", "max": 30, "scope": "grant"}]},
  "list_groups": {},
  "deactivate_user": {"action": "approve", "timeout": "300ms"}}}`
	var gws []*gatewayProc
	var cfgs []string
	for range 3 {
		dir := t.TempDir()
		writeTestFile(t, filepath.Join(dir, "okta.json"), policy)
		cfg := filepath.Join(dir, "toolgate.json")
		writeTestFile(t, cfg, fmt.Sprintf(`{"listen": "127.0.0.1:0", "admin": {"listen": "127.0.0.1:0"},
  "redis": %q, "postgres": %q, "postgres_schema": %q, "audit": {"sync": true},
  "mcpServers": {"okta": {"url": %q, "policy": "okta.json"}}}`, redisURL, pgURL, schema, upURL))
		cfgs = append(cfgs, cfg)
	}
	// The grant is made once, in PostgreSQL, before the replicas start.
	out, code := cliOut(t, exe, "grant", "create", "--config", cfgs[0], "--label", "agent", "--server", "okta", "--json")
	var created struct{ Token string }
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil || created.Token == "" {
		t.Fatalf("grant create = %d %s", code, out)
	}
	for _, cfg := range cfgs {
		gws = append(gws, startGateway(t, exe, cfg))
	}
	var hosts []string
	for _, gw := range gws {
		u, _ := url.Parse(gw.url)
		hosts = append(hosts, u.Host)
	}
	ctx := context.Background()

	// One client, every request to the next replica (the sessionless
	// protocol revision needs no stickiness).
	rr := &roundRobin{hosts: hosts, token: created.Token}
	c := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gws[0].url, HTTPClient: &http.Client{Transport: rr}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	admitted, limited := provision(t, cs, sim, 50)
	if admitted != 30 || limited != 20 || sim.Calls("provision_applications") != 30 {
		t.Errorf("across three replicas: %d admitted, %d limited, %d upstream; want exactly 30, 20, 30", admitted, limited, sim.Calls("provision_applications"))
	}
	if rr.n.Load() < 50 {
		t.Errorf("only %d requests went out; the round robin did not spread the calls", rr.n.Load())
	}

	// An approval held on replica 1, decided on replica 2, used on replica 1.
	one := agentSession(t, gws[0].url, created.Token)
	args := map[string]any{"userId": sim.UserIDs()[0]}
	res, err := one.CallTool(ctx, &mcp.CallToolParams{Name: "deactivate_user", Arguments: args})
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := res.Meta["toolgate/decision"].(map[string]any)
	id, _ := meta["approval_id"].(string)
	if !res.IsError || id == "" {
		t.Fatalf("deactivate_user on replica 1 = %q %v; want it pending", resultText(res), meta)
	}
	if out, code := cliOut(t, exe, "approvals", "approve", id, "--admin", gws[1].admin, "--reason", "replica test"); code != 0 {
		t.Fatalf("approve on replica 2 = %d %s", code, out)
	}
	if res, err := one.CallTool(ctx, &mcp.CallToolParams{Name: "deactivate_user", Arguments: args}); err != nil || res.IsError {
		t.Fatalf("retry on replica 1 after approval on replica 2 = %q, %v", resultText(res), err)
	}

	// Load on every replica; replica 3 is killed in the middle of it.
	var okCalls atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, gw := range gws {
		s := agentSession(t, gw.url, created.Token)
		for range 2 {
			wg.Go(func() {
				for loadCtx.Err() == nil {
					res, err := s.CallTool(loadCtx, &mcp.CallToolParams{Name: "list_groups"})
					if err != nil || res.IsError {
						if loadCtx.Err() == nil && err != nil && !strings.Contains(err.Error(), "connection refused") && !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "EOF") {
							// Calls to the killed replica fail; others must not.
							t.Logf("call: %v", err)
						}
						if err != nil {
							return
						}
						continue
					}
					okCalls.Add(1)
				}
			})
		}
	}
	time.Sleep(700 * time.Millisecond)
	gws[2].kill(t)
	time.Sleep(700 * time.Millisecond)
	stopLoad()
	wg.Wait()

	out, code = cliOut(t, exe, "audit", "--config", cfgs[0], "--tool", "list_groups", "--decision", "allow", "--limit", "0", "--json")
	var recs []audit.Record
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil {
		t.Fatalf("audit = %d %.300s", code, out)
	}
	if int64(len(recs)) < okCalls.Load() {
		t.Errorf("%d list_groups records for %d completed calls: records were lost with the killed replica", len(recs), okCalls.Load())
	}
	if okCalls.Load() < 30 {
		t.Errorf("only %d calls completed under load", okCalls.Load())
	}
	if out, code := cliOut(t, exe, "audit", "verify", "--config", cfgs[0]); code != 0 {
		t.Errorf("audit verify across replicas = %d %s", code, out)
	}

	// A grant revoked on replica 1 is refused by replica 2 at its next
	// request.
	probe := func(gw *gatewayProc) int {
		req, _ := http.NewRequest("POST", gw.url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`))
		req.Header.Set("Authorization", "Bearer "+created.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := probe(gws[1]); code == http.StatusUnauthorized {
		t.Fatalf("replica 2 refused the grant before it was revoked")
	}
	cmd := exec.Command(exe, "grant", "revoke", "agent", "--admin", gws[0].admin)
	cmd.Env = append(os.Environ(), "TOOLGATE_ADMIN_TOKEN=tga_e2e-admin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("revoke on replica 1: %v %s", err, out)
	}
	if code := probe(gws[1]); code != http.StatusUnauthorized {
		t.Errorf("replica 2 after revocation on replica 1 = %d; want 401", code)
	}
	t.Logf("%d calls completed under load; %d records", okCalls.Load(), len(recs))
}
