package gateway

import (
	"os"
	"sync"

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
	p     *policy.Policy
	stamp stamp
}

// grantPolicy returns the policy in the file at path, parsed when first
// needed and again when the file changes. A file that is missing or invalid
// when first needed denies everything; one that becomes invalid keeps its
// last good version. Both are logged.
func (g *Gateway) grantPolicy(path string) *policy.Policy {
	gp := &g.grantPols
	st := stampOf(path)
	gp.mu.Lock()
	defer gp.mu.Unlock()
	cur, ok := gp.m[path]
	if ok && cur.stamp == st {
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
			cur.stamp = st
			gp.m[path] = cur
			return cur.p
		}
		g.logger.Error("grant policy unusable; the grant's calls are denied", "file", path, "error", err)
		p = denyAll
	}
	if gp.m == nil {
		gp.m = make(map[string]grantPolicy)
	}
	gp.m[path] = grantPolicy{p: p, stamp: st}
	return p
}
