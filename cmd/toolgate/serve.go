package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/gateway"
)

// gcPercent is the collector's target when GOGC is not set. Calls the SDK
// serves (stdio upstreams, sessionless agents, every method but tools/call
// over Streamable HTTP) allocate a 32 KiB buffer per message decoded, and
// at the runtime's default of 100 a busy gateway, whose live heap is a few
// megabytes, collects many times a second: 400 cuts the gateway's CPU per
// such call by about a quarter, for a heap up to five times the live one.
// GOGC in the environment takes precedence; GOMEMLIMIT still caps the heap.
const gcPercent = 400

func runServe(ctx context.Context, e *env, args []string) int {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
	fs := newFlags(e, "serve")
	cfgPath := fs.String("config", "toolgate.json", "the config `file`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "toolgate serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFailure
	}
	logger, err := newLogger(e.stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: %v\n", *cfgPath, err)
		return exitFailure
	}
	g, err := gateway.New(cfg, &gateway.Options{Logger: logger, Version: version})
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFailure
	}
	return serve(ctx, e, g, func(agent, admin net.Addr) {
		logger.Info("toolgate serving", "agents", agent.String(), "admin", admin.String(), "servers", len(cfg.Servers))
	})
}

// serve runs g until ctx ends, reloading on SIGHUP.
func serve(ctx context.Context, e *env, g *gateway.Gateway, ready func(agent, admin net.Addr)) int {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = g.Reload() // logged by the gateway
			}
		}
	}()
	err := g.Run(ctx, ready)
	cancel()
	<-done
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(e.stderr, "toolgate: %v\n", err)
		return exitFailure
	}
	return exitOK
}
