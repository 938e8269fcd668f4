package gateway

import (
	"context"
	"os"
	"testing"
	"time"

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
