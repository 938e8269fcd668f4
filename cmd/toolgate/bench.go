package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/gateway"
	"github.com/toolgate/toolgate/internal/load"
)

// benchPolicy makes the gateway decide every call, as it would in
// production, without limiting the run.
const benchPolicy = `{"version": "1", "default": "deny", "tools": {"echo": {}, "sleep": {}}}`

func runBench(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "bench")
	sessions := fs.Int("sessions", load.DefaultSessions, "concurrent MCP `sessions`")
	duration := fs.Duration("duration", 10*time.Second, "measured `time` per run")
	warmup := fs.Duration("warmup", time.Second, "unmeasured `time` before each run")
	runs := fs.Int("runs", 1, "`number` of direct and through runs, alternating; more than one adds their medians")
	policyPath := fs.String("policy", "", "policy `file` for the gateway (default: allow echo and sleep)")
	protocol := fs.String("protocol", load.DefaultProtocolVersion, "the protocol `revision` the sessions offer (2026-07-28: sessionless)")
	upURL := fs.String("upstream", "", "measure the upstream at this `URL` (one serving --serve-upstream) instead of a built-in one")
	gwURL := fs.String("gateway", "", "measure through the gateway endpoint at this `URL` (in front of --upstream) instead of a built-in gateway")
	serveUp := fs.String("serve-upstream", "", "serve only the built-in upstream on this `address` until interrupted, to run it as a process of its own")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process during the runs through the gateway to `file`")
	replicas := fs.Int("replicas", 1, "`number` of built-in gateway replicas the sessions are spread over (more than one needs --redis and --postgres)")
	redisURL := fs.String("redis", "", "the built-in gateways keep budgets on this Redis `URL`")
	pgURL := fs.String("postgres", "", "the built-in gateways keep grants, approvals, pins, policies and the audit trail on this PostgreSQL `URL`")
	pgSchema := fs.String("postgres-schema", "toolgate_bench", "the PostgreSQL `schema` of the built-in gateways' tables")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "toolgate bench: %v\n", err)
		return exitFailure
	}
	if *runs < 1 {
		return fail(fmt.Errorf("--runs %d: want at least 1", *runs))
	}
	if *gwURL != "" && *upURL == "" {
		return fail(fmt.Errorf("--gateway needs the --upstream it is in front of"))
	}
	if *serveUp != "" {
		return serveUpstream(ctx, e, *serveUp)
	}
	if *replicas < 1 || (*replicas > 1 && (*redisURL == "" || *pgURL == "")) {
		return fail(fmt.Errorf("--replicas %d: want 1, or more with --redis and --postgres so that the replicas share their state", *replicas))
	}
	var gwURLs []string

	if *upURL == "" {
		upLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail(err)
		}
		upSrv := &http.Server{Handler: load.NewUpstream(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = upSrv.Serve(upLn) }()
		defer upSrv.Close()
		*upURL = "http://" + upLn.Addr().String() + "/mcp"
	}

	if *gwURL == "" {
		dir, err := os.MkdirTemp("", "toolgate-bench-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(dir)
		if *policyPath == "" {
			*policyPath = filepath.Join(dir, "policy.json")
			if err := os.WriteFile(*policyPath, []byte(benchPolicy), 0o644); err != nil {
				return fail(err)
			}
		}
		for i := range *replicas {
			cfg := config.Defaults()
			cfg.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
			cfg.State = filepath.Join(dir, fmt.Sprintf("state-%d", i))
			cfg.Auth.Mode = "none"
			cfg.Redis, cfg.Postgres, cfg.PostgresSchema = *redisURL, *pgURL, *pgSchema
			cfg.Servers = []*config.Server{{Name: "bench", URL: *upURL, Policy: *policyPath}}
			g, err := gateway.New(cfg, &gateway.Options{Notice: io.Discard})
			if err != nil {
				return fail(err)
			}
			gctx, stop := context.WithCancel(ctx)
			addrs := make(chan net.Addr, 1)
			done := make(chan error, 1)
			go func() { done <- g.Run(gctx, func(agent, _ net.Addr) { addrs <- agent }) }()
			select {
			case a := <-addrs:
				gwURLs = append(gwURLs, "http://"+a.String()+"/mcp/bench")
			case err := <-done:
				stop()
				return fail(err)
			}
			defer func() {
				stop()
				<-done
			}()
		}
		*gwURL = gwURLs[0]
	}

	opts := load.Options{Sessions: *sessions, Duration: *duration, Warmup: *warmup, ProtocolVersion: *protocol}
	if !*asJSON {
		fmt.Fprintf(e.stderr, "measuring %d sessions for %s each: direct, then through Toolgate...\n", *sessions, *duration)
	}
	var all []load.Comparison
	for i := range *runs {
		opts.URL, opts.Replicas = *upURL, nil
		direct, err := load.Run(ctx, opts)
		if err != nil {
			return fail(fmt.Errorf("direct run: %w", err))
		}
		opts.URL = *gwURL
		if len(gwURLs) > 1 {
			opts.Replicas = gwURLs
		}
		stopProfile := func() error { return nil }
		if *cpuProfile != "" {
			if stopProfile, err = startProfile(*cpuProfile, i); err != nil {
				return fail(err)
			}
		}
		through, err := load.Run(ctx, opts)
		if perr := stopProfile(); perr != nil {
			return fail(perr)
		}
		if err != nil {
			return fail(fmt.Errorf("run through the gateway: %w", err))
		}
		c := load.Compare(direct, through)
		all = append(all, c)
		if *asJSON {
			continue
		}
		if *runs > 1 {
			fmt.Fprintf(e.stdout, "run %d of %d\n", i+1, *runs)
		}
		if err := c.WriteTable(e.stdout); err != nil {
			return fail(err)
		}
		if *runs > 1 {
			fmt.Fprintln(e.stdout)
		}
	}
	var err error
	switch {
	case *asJSON && *runs == 1:
		err = all[0].WriteJSON(e.stdout)
	case *asJSON:
		err = writeRunsJSON(e, all)
	case *runs > 1:
		m := medians(all)
		_, err = fmt.Fprintf(e.stdout, "median of %d runs: throughput through/direct %.2f, added latency p50 %+.3f ms, p99 %+.3f ms\n",
			len(all), m.ThroughputRatio, ms(m.AddedP50), ms(m.AddedP99))
	}
	if err != nil {
		return fail(err)
	}
	return exitOK
}

// startProfile starts profiling the CPU into path, or into path.N for
// run N after the first, and returns the func that stops it.
func startProfile(path string, run int) (func() error, error) {
	if run > 0 {
		path += "." + strconv.Itoa(run)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// serveUpstream serves the built-in upstream on addr until ctx ends.
func serveUpstream(ctx context.Context, e *env, addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "toolgate bench: %v\n", err)
		return exitFailure
	}
	srv := &http.Server{Handler: load.NewUpstream(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(e.stdout, "upstream at http://%s/mcp\n", ln.Addr())
	select {
	case err = <-done:
	case <-ctx.Done():
		err = srv.Close()
		<-done
	}
	if err != nil && err != http.ErrServerClosed {
		fmt.Fprintf(e.stderr, "toolgate bench: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// summary is the medians of several comparisons.
type summary struct {
	ThroughputRatio float64       `json:"throughput_ratio"`
	AddedP50        time.Duration `json:"added_p50_ns"`
	AddedP99        time.Duration `json:"added_p99_ns"`
}

func medians(cs []load.Comparison) summary {
	ratios := make([]float64, len(cs))
	p50s := make([]time.Duration, len(cs))
	p99s := make([]time.Duration, len(cs))
	for i, c := range cs {
		ratios[i], p50s[i], p99s[i] = c.ThroughputRatio, c.AddedP50, c.AddedP99
	}
	return summary{ThroughputRatio: median(ratios), AddedP50: median(p50s), AddedP99: median(p99s)}
}

// median returns the middle value, or the mean of the middle two.
func median[T float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func writeRunsJSON(e *env, all []load.Comparison) error {
	data, err := json.MarshalIndent(struct {
		Runs   []load.Comparison `json:"runs"`
		Median summary           `json:"median"`
	}{all, medians(all)}, "", "  ")
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(append(data, '\n'))
	return err
}
