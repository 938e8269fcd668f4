package gateway

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/limit"
	"github.com/toolgate/toolgate/internal/limit/redislimit"
	"github.com/toolgate/toolgate/internal/limit/sqlitelimit"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/proxy"
)

// BenchmarkDecideAndCharge measures what the gateway adds to an admitted
// call under the seed policy: the decision, and the charge against its
// limit, for each budget store. The budget is large enough never to run
// out.
func BenchmarkDecideAndCharge(b *testing.B) {
	p, err := policy.Parse("seed.json", []byte(`{"version": "1", "default": "deny",
  "tools": {"provision_applications": {"limits": [
    {"counter": "provision_applications_rate", "window": "minute", "max": 1000000000000, "scope": "grant"}]}}}`))
	if err != nil {
		b.Fatal(err)
	}
	stores := map[string]func(b *testing.B) limit.Store{
		"memory": func(*testing.B) limit.Store { return limit.NewMemory(nil) },
		"sqlite": func(b *testing.B) limit.Store {
			s, err := sqlitelimit.Open(context.Background(), b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	if url := os.Getenv("TOOLGATE_TEST_REDIS"); url != "" {
		stores["redis"] = func(b *testing.B) limit.Store {
			s, err := redislimit.Open(url, &redislimit.Options{Prefix: "toolgate:bench:" + time.Now().Format("150405.000000") + ":"})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
	}
	id := &Identity{}
	sess := &proxy.Session{ID: "s1"}
	in := &policy.Input{Server: "okta", Tool: "provision_applications", Args: map[string]any{"userIds": []any{"u1"}, "applicationIds": []any{"a1"}}}
	for name, open := range stores {
		b.Run(name, func(b *testing.B) {
			st := open(b)
			defer st.Close()
			charges := make([]limit.Charge, 1)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				d := p.Decide(in)
				if d.Outcome != policy.Allow {
					b.Fatalf("decision %v", d.Outcome)
				}
				l := d.Limits[0]
				cost, err := l.Cost(in)
				if err != nil {
					b.Fatal(err)
				}
				charges[0] = limit.Charge{Key: budgetKey("okta", l, id, sess), Window: l.Window, Max: l.Max, Cost: cost}
				if r, err := st.Take(ctx, time.Now(), charges); err != nil || !r.OK {
					b.Fatalf("Take = %v, %v", r, err)
				}
			}
		})
	}
}

// BenchmarkInterceptAudit measures the gateway's whole part of one admitted
// call (bounds, decision, budget, metrics, span, audit record) with the
// audit trail off, on in the default batched mode, and in sync mode where
// each record is durable before the answer leaves. The upstream is a
// function that answers at once.
func BenchmarkInterceptAudit(b *testing.B) {
	for _, mode := range []string{"off", "batched", "sync"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "okta.json"), []byte(`{"version": "1", "default": "deny",
  "tools": {"provision_applications": {"limits": [
    {"counter": "provision_applications_rate", "window": "minute", "max": 1000000000000, "scope": "grant"}]}}}`), 0o644); err != nil {
				b.Fatal(err)
			}
			cfg, err := config.Parse(filepath.Join(dir, "toolgate.json"), []byte(`{"auth": "none", "pin": "off",
  "audit": {"sync": `+strconv.FormatBool(mode == "sync")+`},
  "mcpServers": {"okta": {"url": "http://127.0.0.1:1/mcp", "policy": "okta.json"}}}`), nil)
			if err != nil {
				b.Fatal(err)
			}
			g, err := New(cfg, &Options{Notice: io.Discard, Getenv: testGetenv, PollInterval: -1, Limits: limit.NewMemory(nil)})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			if mode == "off" {
				g.audit = nil
			}
			enf := (*g.servers.Load())["okta"].enf
			answer := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}
			h := enf.intercept(func(context.Context, *proxy.Call) (*mcp.CallToolResult, error) { return answer, nil })
			sess := &proxy.Session{ID: "s1", Server: "okta"}
			args := json.RawMessage(`{"userIds": ["u1", "u2"], "applicationIds": ["a1"]}`)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c := &proxy.Call{Session: sess, Params: &mcp.CallToolParamsRaw{Name: "provision_applications", Arguments: args}}
				if res, err := h(ctx, c); err != nil || res.IsError {
					b.Fatalf("call = %v, %v", res, err)
				}
			}
			b.StopTimer()
			if err := g.FlushAudit(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
