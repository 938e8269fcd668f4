// Command toolgate is a policy gateway for the Model Context Protocol: it
// sits between AI agents and the MCP servers they use, and nothing reaches a
// server without passing its policy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // a finding or a failure
	exitUsage   = 2
)

// env carries a command's standard streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	name, usage, summary string
	run                  func(ctx context.Context, e *env, args []string) int
}

var commands []*command

func init() {
	commands = []*command{
		{"demo", "toolgate demo [--listen ADDR] [--admin ADDR]", "run the gateway with the seed policy in front of a built-in Okta simulator", runDemo},
		{"serve", "toolgate serve [--config FILE]", "run the gateway", runServe},
		{"wrap", "toolgate wrap [--policy FILE] -- CMD [ARGS...]", "serve one stdio MCP server to a desktop client over stdio, with enforcement", runWrap},
		{"policy", "toolgate policy check [--json] FILE...", "check policy documents; print every problem as file:line:col: message", runPolicy},
		{"grant", "toolgate grant create|list|revoke", "agent credentials: labelled, revocable bearer tokens", runGrant},
		{"approvals", "toolgate approvals list | approve ID | deny ID", "calls held for a person's decision", runApprovals},
		{"audit", "toolgate audit [filters] [--follow] | audit verify", "the audit trail of every decision, and its integrity", runAudit},
		{"counters", "toolgate counters [--json]", "budgets in use in the running gateway", runCounters},
		{"init", "toolgate init [--from CLIENT_CONFIG] [--dir DIR]", "write a config and a recommended policy per server from an MCP client's config", runInit},
		{"pins", "toolgate pins list | accept SERVER TOOL", "tool definitions as first seen, and changes waiting to be accepted", runPins},
		{"scan", "toolgate scan SERVER | -- CMD... | --url URL", "classify a server's tools by risk and show what the policy does with each", runScan},
		{"bench", "toolgate bench [--sessions N] [--duration D] [--json]", "measure a fast upstream directly and through the gateway, side by side", runBench},
		{"version", "toolgate version", "print the version", runVersion},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(stderr, "toolgate: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Toolgate is a policy gateway for MCP servers.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-55s %s\n", c.usage, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'toolgate COMMAND -h' for a command's flags.")
}

// newFlags returns a flag set for a command that reports usage errors on
// stderr.
func newFlags(e *env, c string) *flag.FlagSet {
	fs := flag.NewFlagSet(c, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseFlags parses args, returning the exit status to use when parsing
// ends the command (help or a usage error).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// newLogger returns the logger for format ("text" or "json") and level.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil && level != "" {
		return nil, fmt.Errorf("unknown log level %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q (want text or json)", format)
}

func runVersion(_ context.Context, e *env, args []string) int {
	fmt.Fprintf(e.stdout, "toolgate %s\n", version)
	return exitOK
}
