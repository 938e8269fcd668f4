// Package gateway is Toolgate's composition root: it builds a proxy Front
// for each configured upstream, applies each server's policy to the calls
// that pass through, serves agents and the admin endpoints, and reloads
// configuration and policies when their files change.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/catalog/pgpin"
	"github.com/toolgate/toolgate/internal/catalog/sqlitepin"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/grant"
	"github.com/toolgate/toolgate/internal/grant/pggrant"
	"github.com/toolgate/toolgate/internal/grant/sqlitegrant"
	"github.com/toolgate/toolgate/internal/limit"
	"github.com/toolgate/toolgate/internal/limit/redislimit"
	"github.com/toolgate/toolgate/internal/limit/sqlitelimit"
	"github.com/toolgate/toolgate/internal/oauth"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/proxy"
	"github.com/toolgate/toolgate/internal/telemetry"
	"github.com/toolgate/toolgate/internal/web"
)

// Options configure a [Gateway]. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// Getenv expands ${VAR} in a reloaded config; nil means os.LookupEnv.
	Getenv func(string) (string, bool)
	// PollInterval is how often config and policy files are checked for
	// changes; zero means one second, negative disables polling.
	PollInterval time.Duration
	// Proxy holds options passed to every Front; its Intercept, FilterTools,
	// OpenSession and Logger are set by the gateway.
	Proxy proxy.Options
	// Grants is the grant store; nil means the embedded one in the state
	// directory, opened by New and closed by Close.
	Grants grant.Store
	// Limits is the budget store; nil means Redis when the config names
	// one, else the embedded one in the state directory, else memory.
	Limits limit.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Notice receives what is shown once to the person starting the
	// gateway (a new admin token); nil means os.Stderr.
	Notice io.Writer
	// Metrics receives the gateway's metrics; nil means a registry of the
	// gateway's own, served at /metrics on the admin listener.
	Metrics *telemetry.Metrics
	// Tracing makes a span per call; nil means the config's tracing
	// settings (none by default).
	Tracing *telemetry.Tracing
	// Version is the gateway's version, as traces report it.
	Version string
	// Audit is the audit store; nil means PostgreSQL when configured, else
	// the embedded one in the state directory, else none.
	Audit audit.Store
	// Approvals is the approval store; nil means PostgreSQL when
	// configured, else the embedded one in the state directory, else
	// memory.
	Approvals approval.Store
	// Pins is the tool pin store; nil means PostgreSQL when configured,
	// else the embedded one in the state directory, else none.
	Pins catalog.PinStore
}

// A Gateway serves every configured upstream behind its policy. It is safe
// for concurrent use.
type Gateway struct {
	opts   Options
	logger *slog.Logger

	mu      sync.Mutex                         // serializes reloads
	cfg     atomic.Pointer[config.Config]      // the config in force
	servers atomic.Pointer[map[string]*server] // name → server; replaced whole
	stamps  map[string]stamp                   // guarded by mu: files as last read

	policyVersions   map[string]string // guarded by mu: server → version of the policy in force
	policyTableReady bool              // guarded by mu

	reloads  atomic.Int64
	inflight atomic.Int64 // tools/call being served

	grants     grant.Store
	ownsGrants bool
	limits     limit.Store
	ownsLimits bool
	grantPols  grantPolicies
	sse        sseOwners       // legacy SSE sessions' credentials
	calls      inflightCounter // tools/call in flight per principal
	sessions   inflightCounter // open sessions per principal
	admin      *adminAuth
	oauth      *oauth.Verifier // when auth is "oauth"
	activity   activity
	pins       catalog.PinStore
	ownsPins   bool
	pinCache   pinCache
	pool       *pgxpool.Pool // shared PostgreSQL, when configured
	approvals  *approvals
	console    *web.Console
	audit      *audit.Writer // nil: no audit trail
	auditStore audit.Store
	ownsAudit  bool
	metrics    *telemetry.Metrics
	upstreams  prometheus.Collector
	tracing    *telemetry.Tracing
	ownsTrace  bool
}

// server is one upstream as the gateway runs it.
type server struct {
	conf      *config.Server
	front     *proxy.Front
	enf       *enforcer
	http, sse http.Handler // the front's transports behind authentication
}

// New builds a gateway for cfg. Every policy file must be valid: at start
// there is no old policy to fall back on. The upstreams are connected in the
// background; Close stops them.
func New(cfg *config.Config, opts *Options) (*Gateway, error) {
	g := &Gateway{stamps: make(map[string]stamp), policyVersions: make(map[string]string)}
	if opts != nil {
		g.opts = *opts
	}
	g.cfg.Store(cfg)
	if g.opts.Logger == nil {
		g.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if g.opts.Getenv == nil {
		g.opts.Getenv = os.LookupEnv
	}
	if g.opts.Notice == nil {
		g.opts.Notice = os.Stderr
	}
	if g.opts.PollInterval == 0 {
		g.opts.PollInterval = time.Second
	}
	g.logger = g.opts.Logger
	if err := checkAuth(cfg); err != nil {
		return nil, err
	}
	g.metrics = g.opts.Metrics
	if g.metrics == nil {
		g.metrics = telemetry.NewMetrics()
	}
	g.tracing = g.opts.Tracing
	if g.tracing == nil && cfg.Tracing.Endpoint != "" {
		t, err := telemetry.NewTracing(context.Background(), cfg.Tracing.Endpoint, cfg.Tracing.ServiceName, g.opts.Version)
		if err != nil {
			return nil, err
		}
		g.tracing, g.ownsTrace = t, true
	}
	if cfg.Postgres != "" {
		pool, err := pgxpool.New(context.Background(), cfg.Postgres)
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		g.pool = pool
	}
	policies := make(map[string]*policy.Policy)
	var errs []error
	for _, sc := range cfg.Servers {
		p, err := g.loadPolicy(sc, false)
		if err != nil {
			errs = append(errs, err)
		}
		policies[sc.Name] = p
	}
	if err := errors.Join(errs...); err != nil {
		g.closePool()
		return nil, err
	}
	if err := g.openStores(cfg); err != nil {
		g.closePool()
		return nil, err
	}
	servers := make(map[string]*server)
	for _, sc := range cfg.Servers {
		if sc.Disabled {
			continue
		}
		servers[sc.Name] = g.newServer(sc, policies[sc.Name])
	}
	g.cfg.Store(cfg)
	g.servers.Store(&servers)
	if cfg.Path != "" {
		g.stamps[cfg.Path] = stampOf(cfg.Path)
	}
	g.upstreams = telemetry.UpstreamCollector(g.upstreamStates)
	if err := g.metrics.Register(g.upstreams); err != nil {
		g.logger.Warn("upstream metrics not registered", "error", err)
	}
	return g, nil
}

func checkAuth(cfg *config.Config) error {
	switch cfg.Auth.Mode {
	case "none", "grants", "oauth":
		return nil
	}
	return fmt.Errorf("unknown auth mode %q", cfg.Auth.Mode)
}

// openStores opens the embedded stores in the state directory, unless the
// caller supplied them. A gateway without a state directory (wrap) has none.
func (g *Gateway) openStores(cfg *config.Config) error {
	g.grants = g.opts.Grants
	if g.grants == nil && cfg.Postgres != "" {
		st, err := OpenGrants(context.Background(), cfg, false)
		if err != nil {
			return err
		}
		g.grants, g.ownsGrants = st, true
	}
	if g.grants == nil && cfg.State != "" {
		st, err := sqlitegrant.Open(context.Background(), cfg.State, nil)
		if err != nil {
			return fmt.Errorf("grant store: %w", err)
		}
		g.grants, g.ownsGrants = st, true
	}
	g.limits = g.opts.Limits
	if g.limits == nil {
		var err error
		switch {
		case cfg.Redis != "":
			g.limits, err = redislimit.Open(cfg.Redis, nil)
		case cfg.State != "":
			g.limits, err = sqlitelimit.Open(context.Background(), cfg.State, nil)
		default:
			g.limits = limit.NewMemory(nil)
		}
		if err != nil {
			return fmt.Errorf("budget store: %w", err)
		}
		g.ownsLimits = true
	}
	switch {
	case g.opts.Pins != nil:
		g.pins = g.opts.Pins
	case g.pool != nil:
		st, err := pgpin.Open(context.Background(), g.pool, &pgpin.Options{Schema: cfg.PostgresSchema})
		if err != nil {
			return fmt.Errorf("tool pin store: %w", err)
		}
		g.pins, g.ownsPins = st, true
	case cfg.State != "":
		st, err := sqlitepin.Open(context.Background(), cfg.State, nil)
		if err != nil {
			return fmt.Errorf("tool pin store: %w", err)
		}
		g.pins, g.ownsPins = st, true
	}
	if err := g.openApprovals(cfg); err != nil {
		return err
	}
	if err := g.openAudit(cfg); err != nil {
		return err
	}
	if g.grants == nil && cfg.Auth.Mode == "grants" {
		return errors.New(`auth "grants" needs a state directory for its grants`)
	}
	if cfg.State != "" {
		a, err := loadAdminAuth(cfg.State, g.opts.Getenv, g.opts.Notice, g.logger)
		if err != nil {
			return err
		}
		g.admin = a
	}
	v, err := g.newVerifier(cfg)
	if err != nil {
		return fmt.Errorf("auth oauth: %w", err)
	}
	g.oauth = v
	return nil
}

func (g *Gateway) newServer(sc *config.Server, p *policy.Policy) *server {
	logger := g.logger.With("server", sc.Name)
	enf := &enforcer{server: sc.Name, logger: logger}
	enf.policy.Store(p)
	enf.g = g
	popts := g.opts.Proxy
	popts.Logger = g.logger
	popts.Intercept = enf.intercept
	popts.FilterTools = enf.filter
	popts.OpenSession = g.openSession
	if popts.MaxRequestBytes == 0 {
		popts.MaxRequestBytes = boundsOf(g.cfg.Load()).MaxBodyBytes
	}
	spec := specOf(sc)
	if g.tracing != nil && spec.URL != "" {
		spec.HTTPClient = &http.Client{Transport: g.tracing.Transport(proxy.UpstreamTransport())}
	}
	front := proxy.NewFront(spec, &popts)
	return &server{
		conf:  sc,
		front: front,
		enf:   enf,
		http:  g.authenticate(sc.Name, front),
		sse:   g.authenticate(sc.Name, g.bindSSE(front.SSE())),
	}
}

func specOf(sc *config.Server) *proxy.Spec {
	return &proxy.Spec{
		Name:      sc.Name,
		Command:   sc.Command,
		Args:      sc.Args,
		Env:       sc.Env,
		Dir:       sc.Cwd,
		URL:       sc.URL,
		Headers:   sc.Headers,
		Transport: sc.Transport,
	}
}

// loadPolicy reads and parses a server's policy file; a server without one
// gets nil (everything passes).
func (g *Gateway) loadPolicy(sc *config.Server, fileEdited bool) (*policy.Policy, error) {
	if sc.Policy == "" {
		return nil, nil
	}
	g.stamps[sc.Policy] = stampOf(sc.Policy)
	data, version, err := g.policyText(sc, fileEdited)
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse(sc.Policy, data)
	if err != nil {
		return nil, err
	}
	g.policyVersions[sc.Name] = version
	return p, nil
}

func (g *Gateway) closePool() {
	if g.pool != nil {
		g.pool.Close()
	}
}

// Grants returns the grant store.
func (g *Gateway) Grants() grant.Store { return g.grants }

// Config returns the configuration in force.
func (g *Gateway) Config() *config.Config { return g.cfg.Load() }

// Reloads returns how many reloads have taken effect.
func (g *Gateway) Reloads() int64 { return g.reloads.Load() }

// Policy returns the policy in force for a server, or nil.
func (g *Gateway) Policy(server string) *policy.Policy {
	if s := (*g.servers.Load())[server]; s != nil {
		return s.enf.policy.Load()
	}
	return nil
}

// Front returns the proxy serving a server, or nil.
func (g *Gateway) Front(name string) *proxy.Front {
	if s := (*g.servers.Load())[name]; s != nil {
		return s.front
	}
	return nil
}

// Reload re-reads the config file and every policy file. A file with
// problems is rejected as a whole and logged, and what it would have
// replaced keeps serving; the error describes every problem. Calls in flight
// finish under the policy they started with.
func (g *Gateway) Reload() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reload(true)
}

// reload reloads the config (when it came from a file and force is set or it
// changed) and the policies whose files changed. g.mu is held.
func (g *Gateway) reload(force bool) error {
	old := g.cfg.Load()
	cfg := old
	if old.Path != "" && (force || g.changed(old.Path)) {
		g.stamps[old.Path] = stampOf(old.Path)
		next, err := config.Load(old.Path, g.opts.Getenv)
		if err == nil {
			err = checkAuth(next)
		}
		if err != nil {
			g.logger.Error("config rejected; the previous one stays in force", "file", old.Path, "error", err)
			g.metrics.Reload(false)
			return err
		}
		cfg = next
	}
	var errs []error
	servers := *g.servers.Load()
	next := make(map[string]*server, len(cfg.Servers))
	var retire []*server
	for _, sc := range cfg.Servers {
		cur := servers[sc.Name]
		if sc.Disabled {
			continue
		}
		if cur != nil && reflect.DeepEqual(specOf(cur.conf), specOf(sc)) {
			// Same upstream: keep its sessions, and update the policy if
			// its file (or which file) changed.
			if edited := sc.Policy != "" && g.changed(sc.Policy); sc.Policy != cur.conf.Policy || (sc.Policy != "" && (force || edited)) {
				p, err := g.loadPolicy(sc, edited)
				if err != nil {
					g.logger.Error("policy rejected; the previous one stays in force", "server", sc.Name, "error", err)
					errs = append(errs, err)
					sc = cur.conf
				} else {
					cur.enf.policy.Store(p)
					g.logger.Info("policy loaded", "server", sc.Name, "file", sc.Policy)
				}
			}
			keep := *cur
			keep.conf = sc
			next[sc.Name] = &keep
			continue
		}
		p, err := g.loadPolicy(sc, sc.Policy != "" && g.changed(sc.Policy))
		if err != nil {
			g.logger.Error("policy rejected; server not changed", "server", sc.Name, "error", err)
			errs = append(errs, err)
			if cur != nil {
				next[sc.Name] = cur
			}
			continue
		}
		next[sc.Name] = g.newServer(sc, p)
		if cur != nil {
			retire = append(retire, cur)
		}
		g.logger.Info("server started", "server", sc.Name)
	}
	for name, cur := range servers {
		if next[name] == nil || next[name].front != cur.front {
			if !slices.Contains(retire, cur) {
				retire = append(retire, cur)
			}
		}
	}
	g.cfg.Store(cfg)
	g.servers.Store(&next)
	for _, s := range retire {
		g.logger.Info("server stopped", "server", s.conf.Name)
		go s.front.Close()
	}
	if len(errs) == 0 {
		g.reloads.Add(1)
	}
	g.metrics.Reload(len(errs) == 0)
	return errors.Join(errs...)
}

func isLoopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// stamp identifies a version of a file cheaply.
type stamp struct {
	size int64
	mod  time.Time
	ok   bool
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{size: fi.Size(), mod: fi.ModTime(), ok: true}
}

func (g *Gateway) changed(path string) bool {
	return stampOf(path) != g.stamps[path]
}

// watch polls the config and policy files until ctx ends, reloading what
// changed.
func (g *Gateway) watch(ctx context.Context) {
	if g.opts.PollInterval < 0 {
		return
	}
	t := time.NewTicker(g.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.mu.Lock()
		dirty := false
		for _, path := range slices.Sorted(maps.Keys(g.stamps)) {
			if g.changed(path) {
				dirty = true
				break
			}
		}
		if dirty {
			_ = g.reload(false)
		}
		g.syncShared(ctx)
		g.mu.Unlock()
	}
}

// Close stops every upstream, waits for them, and closes the stores the
// gateway opened.
func (g *Gateway) Close() {
	var wg sync.WaitGroup
	for _, s := range *g.servers.Load() {
		wg.Go(s.front.Close)
	}
	wg.Wait()
	g.metrics.Unregister(g.upstreams)
	if g.ownsTrace {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := g.tracing.Shutdown(ctx); err != nil {
			g.logger.Error("flushing traces", "error", err)
		}
		cancel()
	}
	if g.ownsGrants {
		if err := g.grants.Close(); err != nil {
			g.logger.Error("closing the grant store", "error", err)
		}
	}
	if g.ownsLimits {
		if err := g.limits.Close(); err != nil {
			g.logger.Error("closing the budget store", "error", err)
		}
	}
	if g.approvals != nil {
		g.approvals.close(g.logger)
	}
	g.closeAudit()
	if g.ownsPins {
		if err := g.pins.Close(); err != nil {
			g.logger.Error("closing the tool pin store", "error", err)
		}
	}
	if g.pool != nil {
		g.pool.Close()
	}
}

// OpenGrants opens the grant store cfg names: PostgreSQL when configured
// (shared by replicas), else the embedded store in the state directory.
// oneShot is for a command that makes a change and exits: it reads the
// database for every lookup instead of keeping a cache in step.
func OpenGrants(ctx context.Context, cfg *config.Config, oneShot bool) (grant.Store, error) {
	if cfg.Postgres == "" {
		st, err := sqlitegrant.Open(ctx, cfg.State, nil)
		if err != nil {
			return nil, fmt.Errorf("grant store: %w", err)
		}
		return st, nil
	}
	st, pool, err := openPooled(ctx, cfg.Postgres, "grant store", func(pool *pgxpool.Pool) (*pggrant.Store, error) {
		return pggrant.Open(ctx, pool, &pggrant.Options{NoCache: oneShot, Schema: cfg.PostgresSchema})
	})
	if err != nil {
		return nil, err
	}
	return &pooledGrants{Store: st, pool: pool}, nil
}

// pooledGrants closes its connection pool with the store.
type pooledGrants struct {
	*pggrant.Store
	pool *pgxpool.Pool
}

func (p *pooledGrants) Close() error { return closeBoth(p.Store, p.pool) }

// failOpen reports whether calls under a limit pass when the budget store
// cannot be reached.
func (g *Gateway) failOpen() bool { return g.cfg.Load().RateLimits.FailOpen }

// Limits returns the budget store.
func (g *Gateway) Limits() limit.Store { return g.limits }

// openSession enforces the per-principal session bound.
func (g *Gateway) openSession(s *proxy.Session) (func(), error) {
	key := identityOf(s.Auth).key()
	if key == "" {
		return func() {}, nil
	}
	max := boundsOf(g.cfg.Load()).MaxSessionsPerGrant
	if !g.sessions.acquire(key, max) {
		g.logger.Warn("session refused: too many open sessions", "principal", key, "max", max)
		return nil, fmt.Errorf("too many open sessions for this credential (at most %d); close one and retry", max)
	}
	return func() { g.sessions.release(key) }, nil
}

// Run serves agents on cfg.Listen and the admin endpoints on
// cfg.Admin.Listen until ctx ends, then shuts down gracefully. ready, if not
// nil, receives the bound addresses once both listeners are open.
func (g *Gateway) Run(ctx context.Context, ready func(agent, admin net.Addr)) error {
	cfg := g.cfg.Load()
	agentLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		agentLn.Close()
		return fmt.Errorf("admin listen %s: %w", cfg.Admin.Listen, err)
	}
	agentSrv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
	adminSrv := &http.Server{Handler: g.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	if cfg.Auth.Mode == "none" {
		g.logger.Warn("AUTH IS OFF: any local process can call the upstreams through this gateway (auth \"none\")", "listen", agentLn.Addr().String())
	}
	for _, l := range []struct {
		what string
		ln   net.Listener
		tls  *config.TLS
	}{{"agent", agentLn, cfg.TLS}, {"admin", adminLn, cfg.Admin.TLS}} {
		if l.tls == nil && !isLoopbackAddr(l.ln.Addr()) {
			g.logger.Warn("LISTENING WITHOUT TLS ON A NON-LOOPBACK ADDRESS: credentials and calls cross the network in the clear; configure tls or terminate TLS in front", "listener", l.what, "addr", l.ln.Addr().String())
		}
	}
	adminScheme := "http"
	if cfg.Admin.TLS != nil {
		adminScheme = "https"
	}
	g.startNotifier(cfg, adminScheme+"://"+adminLn.Addr().String())
	if ready != nil {
		ready(agentLn.Addr(), adminLn.Addr())
	}
	errc := make(chan error, 2)
	serve := func(srv *http.Server, ln net.Listener, t *config.TLS) error {
		if t != nil {
			return srv.ServeTLS(ln, t.Cert, t.Key)
		}
		return srv.Serve(ln)
	}
	go func() { errc <- serve(agentSrv, agentLn, cfg.TLS) }()
	go func() { errc <- serve(adminSrv, adminLn, cfg.Admin.TLS) }()
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { g.watch(watchCtx) })
	wg.Go(func() { g.expireApprovals(watchCtx, 30*time.Second) })
	wg.Go(func() { g.prune(watchCtx) })

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	stopWatch()
	wg.Wait()
	shutCtx, cancel := context.WithTimeout(context.Background(), drainTimeout+5*time.Second)
	defer cancel()
	// New connections are refused at once; calls in flight get up to
	// drainTimeout to finish. Streams stay open until their sessions end,
	// so the upstreams (which end the sessions) are closed after that.
	go func() {
		_ = agentSrv.Shutdown(shutCtx)
	}()
	g.drain(drainTimeout)
	_ = adminSrv.Shutdown(shutCtx)
	g.Close()
	_ = agentSrv.Close()
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// drainTimeout bounds how long a stopping gateway waits for calls in
// flight.
const drainTimeout = 10 * time.Second

// drain waits until no call is in flight, or max has passed.
func (g *Gateway) drain(max time.Duration) {
	deadline := time.Now().Add(max)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for g.inflight.Load() > 0 && time.Now().Before(deadline) {
		<-t.C
	}
	if n := g.inflight.Load(); n > 0 {
		g.logger.Warn("stopping with calls still in flight", "calls", n)
	}
}

// upstreamStates reports each served upstream's health for the metrics.
func (g *Gateway) upstreamStates() []telemetry.UpstreamState {
	servers := *g.servers.Load()
	out := make([]telemetry.UpstreamState, 0, len(servers))
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		f := servers[name].front
		out = append(out, telemetry.UpstreamState{Server: name, Up: f.Ready(), Restarts: f.Restarts()})
	}
	return out
}

// Metrics returns the gateway's metrics.
func (g *Gateway) Metrics() *telemetry.Metrics { return g.metrics }

// Pins returns the tool pin store, or nil when there is none.
func (g *Gateway) Pins() catalog.PinStore { return g.pins }

// openPooled opens a store on a connection pool of its own, for commands;
// the pool is closed again when the store cannot be opened.
func openPooled[S any](ctx context.Context, url, what string, open func(*pgxpool.Pool) (S, error)) (S, *pgxpool.Pool, error) {
	var zero S
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return zero, nil, fmt.Errorf("%s: postgres: %w", what, err)
	}
	st, err := open(pool)
	if err != nil {
		pool.Close()
		return zero, nil, fmt.Errorf("%s: postgres: %w", what, err)
	}
	return st, pool, nil
}

// closeBoth closes a store, then the pool it alone used.
func closeBoth(st interface{ Close() error }, pool *pgxpool.Pool) error {
	err := st.Close()
	pool.Close()
	return err
}
