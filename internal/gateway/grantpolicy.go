package gateway

import (
	"os"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/policy"
)

// denyAll governs a grant whose own policy file cannot be read: failing
// closed is the only safe reading of a policy that is not there.
var denyAll = func() *policy.Policy {
	p, err := policy.Parse("deny-all", []byte(`{"version": "1", "default": "deny"}`))
	if err != nil {
		panic(err)
	}
	return p
}()

// grantPolicies caches the policies bound to grants, by file, reloading a
// file when it changes.
type grantPolicies struct {
	mu sync.Mutex
	m  map[string]grantPolicy // guarded by mu
}

type grantPolicy struct {
	p       *policy.Policy
	stamp   stamp
	checked time.Time // when the file was last looked at
}

// grantPolicy returns the policy in the file at path, parsed when first
// needed and again when the file changes (noticed within the poll interval). A file that is missing or invalid
// when first needed denies everything; one that becomes invalid keeps its
// last good version. Both are logged.
func (g *Gateway) grantPolicy(path string) *policy.Policy {
	gp := &g.grantPols
	now := g.now()
	gp.mu.Lock()
	defer gp.mu.Unlock()
	cur, ok := gp.m[path]
	// The file is looked at no more often than the server policies are, not
	// on every call.
	if ok && now.Sub(cur.checked) < g.grantPolicyRecheck() {
		return cur.p
	}
	st := stampOf(path)
	if ok && cur.stamp == st {
		cur.checked = now
		gp.m[path] = cur
		return cur.p
	}
	data, err := os.ReadFile(path)
	var p *policy.Policy
	if err == nil {
		p, err = policy.Parse(path, data)
	}
	if err != nil {
		if ok {
			g.logger.Error("grant policy rejected; the previous one stays in force", "file", path, "error", err)
			cur.stamp, cur.checked = st, now
			gp.m[path] = cur
			return cur.p
		}
		g.logger.Error("grant policy unusable; the grant's calls are denied", "file", path, "error", err)
		p = denyAll
	}
	if gp.m == nil {
		gp.m = make(map[string]grantPolicy)
	}
	gp.m[path] = grantPolicy{p: p, stamp: st, checked: now}
	return p
}

// grantPolicyRecheck is how long a grant's policy file goes unexamined.
func (g *Gateway) grantPolicyRecheck() time.Duration {
	if g.opts.PollInterval > 0 {
		return g.opts.PollInterval
	}
	return time.Second
}
