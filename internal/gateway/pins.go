package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/catalog/pgpin"
	"github.com/toolgate/toolgate/internal/catalog/sqlitepin"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/proxy"
)

// Pin modes.
const (
	pinOff    = "off"
	pinWarn   = "warn"
	pinStrict = "strict"
)

// pinMode returns the tool-pinning mode of a server: its own, else the
// config's.
func (e *enforcer) pinMode() string {
	if e.g.pins == nil {
		return pinOff
	}
	if sc := e.g.serverConf(e.server); sc != nil && sc.Pin != "" {
		return sc.Pin
	}
	return e.g.cfg.Load().Pin
}

// pinCache remembers what the pin store said of each definition seen, so
// that the store is asked once per new definition, not per listing or call.
// A definition found changed is asked about again after changedTTL, so that
// an acceptance made elsewhere (the CLI, another replica) takes effect.
type pinCache struct {
	mu      sync.Mutex
	entries map[pinKey]pinEntry // guarded by mu
	digests sync.Map            // *mcp.Tool → digest, for calls
	ndig    int64               // guarded by mu: entries in digests
}

type pinKey struct{ server, tool, digest string }

type pinEntry struct {
	changed bool
	at      time.Time
}

const (
	changedTTL  = 2 * time.Second
	maxPinCache = 1 << 14
)

// digestOf returns a tool definition's digest, computed once per
// definition the proxy holds.
func (c *pinCache) digestOf(t *mcp.Tool) string {
	if d, ok := c.digests.Load(t); ok {
		return d.(string)
	}
	d := catalog.Digest(t)
	c.mu.Lock()
	c.ndig++
	if c.ndig > maxPinCache {
		c.digests.Clear()
		c.ndig = 0
	}
	c.mu.Unlock()
	c.digests.Store(t, d)
	return d
}

// forget drops what the cache knows of a tool, after its pin changed.
func (c *pinCache) forget(server, tool string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.server == server && k.tool == tool {
			delete(c.entries, k)
		}
	}
}

// changed reports whether tool t of the enforcer's server differs from its
// pinned definition, observing it in the pin store when it is new. The
// first time a change is seen it is logged, recorded and counted. A store
// that cannot be reached counts as unchanged, and is logged.
func (e *enforcer) changed(ctx context.Context, t *mcp.Tool, digest string) bool {
	g := e.g
	k := pinKey{e.server, t.Name, digest}
	now := g.now()
	g.pinCache.mu.Lock()
	ent, ok := g.pinCache.entries[k]
	g.pinCache.mu.Unlock()
	if ok && (!ent.changed || now.Sub(ent.at) < changedTTL) {
		return ent.changed
	}
	pin, err := g.pins.Observe(ctx, e.server, t, digest, now)
	if err != nil {
		e.logger.Error("tool pin store unavailable", "tool", t.Name, "error", err)
		return false
	}
	changed := pin.Status == catalog.StatusChanged && pin.Pending != nil && pin.Pending.Digest == digest
	g.pinCache.mu.Lock()
	if g.pinCache.entries == nil || len(g.pinCache.entries) > maxPinCache {
		g.pinCache.entries = make(map[pinKey]pinEntry)
	}
	g.pinCache.entries[k] = pinEntry{changed: changed, at: now}
	g.pinCache.mu.Unlock()
	if changed && !ok {
		e.logger.Warn("tool definition changed since it was pinned; review it and accept it with 'toolgate pins accept'",
			"tool", t.Name, "pinned_digest", pin.Digest, "new_digest", digest, "mode", e.pinMode())
		g.metrics.ToolChanged(e.server, t.Name)
		e.recordChange(ctx, t.Name, pin)
	}
	return changed
}

// withholdChanged removes from a listing the tools whose definitions
// changed, under strict pinning, after observing every tool.
func (e *enforcer) withholdChanged(ctx context.Context, tools []*mcp.Tool) []*mcp.Tool {
	mode := e.pinMode()
	if mode == pinOff {
		return tools
	}
	out := tools[:0:0]
	for _, t := range tools {
		if e.changed(ctx, t, catalog.Digest(t)) && mode == pinStrict {
			continue
		}
		out = append(out, t)
	}
	return out
}

// unpinned observes the called tool's definition and, under strict
// pinning, refuses the call when it changed since it was pinned; it returns
// nil when the call may go on.
func (e *enforcer) unpinned(ctx context.Context, c *proxy.Call, o *outcome) *mcp.CallToolResult {
	if c.Tool == nil {
		return nil
	}
	mode := e.pinMode()
	if mode == pinOff || !e.changed(ctx, c.Tool, e.g.pinCache.digestOf(c.Tool)) || mode != pinStrict {
		return nil
	}
	e.logger.Warn("call refused: tool definition changed and not yet accepted", "tool", c.Params.Name)
	return o.deny(denial(c.Params.Name, "its definition changed since it was reviewed; an administrator must accept the new definition before it can be called", "/pin"))
}

// pinRoutes serves the pins API.
func (g *Gateway) pinRoutes(api *http.ServeMux) {
	api.HandleFunc("GET /api/v1/pins", func(w http.ResponseWriter, r *http.Request) {
		if g.pins == nil {
			writeError(w, http.StatusNotFound, "tool pinning needs a state directory or postgres")
			return
		}
		pins, err := g.pins.List(r.Context(), r.URL.Query().Get("server"))
		if err != nil {
			writeError(w, http.StatusInternalServerError, "listing pins: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, orEmpty(pins))
	})
	api.HandleFunc("POST /api/v1/pins/{server}/{tool}/accept", func(w http.ResponseWriter, r *http.Request) {
		if g.pins == nil {
			writeError(w, http.StatusNotFound, "tool pinning needs a state directory or postgres")
			return
		}
		var req struct {
			Digest string `json:"digest"`
			By     string `json:"by"`
		}
		if !decodeBody(w, r, &req, 64<<10) {
			return
		}
		if req.By == "" {
			req.By = "admin"
		}
		pin, err := AcceptPin(r.Context(), g.pins, r.PathValue("server"), r.PathValue("tool"), req.Digest, req.By, g.now())
		switch {
		case errors.Is(err, catalog.ErrNoPin):
			writeError(w, http.StatusNotFound, "%v", err)
		case errors.Is(err, catalog.ErrNotPending), errors.Is(err, catalog.ErrStale):
			writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "pin": pin})
		case errors.Is(err, catalog.ErrInvalidPin):
			writeError(w, http.StatusBadRequest, "%v", err)
		case err != nil:
			writeError(w, http.StatusInternalServerError, "%v", err)
		default:
			g.pinCache.forget(pin.Server, pin.Tool)
			g.logger.Info("tool definition accepted", "server", pin.Server, "tool", pin.Tool, "digest", pin.Digest, "by", req.By)
			writeJSON(w, http.StatusOK, pin)
		}
	})
}

// AcceptPin accepts the pending definition of a tool. An empty digest
// accepts whatever change is pending now.
func AcceptPin(ctx context.Context, st catalog.PinStore, server, tool, digest, by string, at time.Time) (catalog.Pin, error) {
	if digest == "" {
		pins, err := st.List(ctx, server)
		if err != nil {
			return catalog.Pin{}, err
		}
		for _, p := range pins {
			if p.Tool == tool {
				if p.Pending == nil {
					return p, fmt.Errorf("%s/%s: %w", server, tool, catalog.ErrNotPending)
				}
				digest = p.Pending.Digest
			}
		}
		if digest == "" {
			return catalog.Pin{}, fmt.Errorf("%s/%s: %w", server, tool, catalog.ErrNoPin)
		}
	}
	return st.Accept(ctx, server, tool, digest, by, at)
}

// OpenPins opens the tool pin store cfg names, for commands: PostgreSQL
// when configured, else the embedded store in the state directory.
func OpenPins(ctx context.Context, cfg *config.Config) (catalog.PinStore, error) {
	if cfg.Postgres == "" {
		return sqlitepin.Open(ctx, cfg.State, nil)
	}
	st, pool, err := openPooled(ctx, cfg.Postgres, "tool pin store", func(pool *pgxpool.Pool) (catalog.PinStore, error) {
		return pgpin.Open(ctx, pool, &pgpin.Options{Schema: cfg.PostgresSchema})
	})
	if err != nil {
		return nil, err
	}
	return &pooledPins{PinStore: st, pool: pool}, nil
}

type pooledPins struct {
	catalog.PinStore
	pool *pgxpool.Pool
}

func (p *pooledPins) Close() error { return closeBoth(p.PinStore, p.pool) }
