package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	policyPath := fs.String("policy", "", "policy `file` for the gateway (default: allow echo and sleep)")
	protocol := fs.String("protocol", load.DefaultProtocolVersion, "the protocol `revision` the sessions offer (2026-07-28: sessionless)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "toolgate bench: %v\n", err)
		return exitFailure
	}

	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	upSrv := &http.Server{Handler: load.NewUpstream(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = upSrv.Serve(upLn) }()
	defer upSrv.Close()
	upURL := "http://" + upLn.Addr().String() + "/mcp"

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
	cfg := &config.Config{
		Listen:  "127.0.0.1:0",
		State:   filepath.Join(dir, "state"),
		Auth:    config.Auth{Mode: "none"},
		Admin:   config.Admin{Listen: "127.0.0.1:0"},
		Servers: []*config.Server{{Name: "bench", URL: upURL, Policy: *policyPath}},
	}
	g, err := gateway.New(cfg, nil)
	if err != nil {
		return fail(err)
	}
	gctx, stop := context.WithCancel(ctx)
	defer stop()
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx, func(agent, _ net.Addr) { addrs <- agent }) }()
	var gwURL string
	select {
	case a := <-addrs:
		gwURL = "http://" + a.String() + "/mcp/bench"
	case err := <-done:
		return fail(err)
	}
	defer func() {
		stop()
		<-done
	}()

	opts := load.Options{Sessions: *sessions, Duration: *duration, Warmup: *warmup, ProtocolVersion: *protocol}
	if !*asJSON {
		fmt.Fprintf(e.stderr, "measuring %d sessions for %s each: direct, then through Toolgate...\n", *sessions, *duration)
	}
	opts.URL = upURL
	direct, err := load.Run(ctx, opts)
	if err != nil {
		return fail(fmt.Errorf("direct run: %w", err))
	}
	opts.URL = gwURL
	through, err := load.Run(ctx, opts)
	if err != nil {
		return fail(fmt.Errorf("run through the gateway: %w", err))
	}
	c := load.Compare(direct, through)
	if *asJSON {
		err = c.WriteJSON(e.stdout)
	} else {
		err = c.WriteTable(e.stdout)
	}
	if err != nil {
		return fail(err)
	}
	return exitOK
}
