package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
)

// Handler returns the agent-facing HTTP handler: /mcp/NAME (Streamable
// HTTP) and /sse/NAME (the legacy HTTP+SSE transport) for each server.
// Servers added or removed by a reload are served or refused at once.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	serve := func(sse bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			s := (*g.servers.Load())[name]
			if s == nil {
				http.Error(w, "no such MCP server", http.StatusNotFound)
				return
			}
			if sse {
				s.sse.ServeHTTP(w, r)
				return
			}
			s.http.ServeHTTP(w, r)
		}
	}
	mux.HandleFunc("/mcp/{name}", serve(false))
	mux.HandleFunc("/sse/{name}", serve(true))
	g.oauthRoutes(mux)
	return g.checkOrigin(mux)
}

// AdminHandler returns the admin HTTP handler: /healthz (the process is
// serving), /readyz (the shared stores answer and an upstream is
// connected), /metrics
// (Prometheus; like the probes it needs no credential) and the admin API.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", g.metrics.Handler())
	mux.HandleFunc("/approvals/", func(w http.ResponseWriter, r *http.Request) {
		links := g.approvals.links.Load()
		if links == nil {
			http.NotFound(w, r)
			return
		}
		h := &approval.LinkHandler{Links: links, Decider: g.approvals.hub, Now: g.now,
			Logf: func(format string, args ...any) { g.logger.Warn(fmt.Sprintf(format, args...)) }}
		h.ServeHTTP(w, r)
	})
	g.adminRoutes(mux)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		// Ready means this replica can serve: its shared stores answer (a
		// budget store only matters when limits fail closed) and at least
		// one upstream is connected. One upstream down is reported, not
		// fatal: the load balancer would take every replica out with it.
		servers := *g.servers.Load()
		status := make(map[string]string, len(servers))
		up := 0
		for _, name := range slices.Sorted(maps.Keys(servers)) {
			if servers[name].front.Ready() {
				status[name] = "up"
				up++
			} else {
				status[name] = "down"
			}
		}
		ready := len(servers) == 0 || up > 0
		stores := g.storeHealth(r.Context())
		for name, v := range stores {
			if v != "up" && !(name == "redis" && g.failOpen()) {
				ready = false
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "servers": status, "stores": stores})
	})
	return mux
}

// storeHealth checks the shared stores (Redis, PostgreSQL): "up", or
// "down: why".
func (g *Gateway) storeHealth(ctx context.Context) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out := map[string]string{}
	check := func(name string, err error) {
		if err != nil {
			out[name] = "down: " + err.Error()
		} else {
			out[name] = "up"
		}
	}
	if p, ok := g.limits.(interface{ Ping(context.Context) error }); ok {
		check("redis", p.Ping(ctx))
	}
	if g.pool != nil {
		check("postgres", g.pool.Ping(ctx))
	}
	return out
}
