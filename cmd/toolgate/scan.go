package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/gateway"
	"github.com/toolgate/toolgate/internal/policy"
)

const scanUsage = `usage:
  toolgate scan [--config FILE] [--policy FILE] [--json] SERVER
  toolgate scan [--policy FILE] [--trusted] [--json] -- CMD [ARGS...]
  toolgate scan [--policy FILE] [--trusted] [--json] --url URL [--header 'Name: value']...
Connects to an MCP server, lists its tools and prints each one's risk class
(category, severity, the signals behind them) and what the policy does with
it: the server's policy file from the config, or --policy.`

func runScan(ctx context.Context, e *env, args []string) int {
	var command []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, command = args[:i], args[i+1:]
	}
	fs := newFlags(e, "scan")
	cfgPath := fs.String("config", "toolgate.json", "the config `file`")
	policyPath := fs.String("policy", "", "judge the tools by this policy `file`")
	url := fs.String("url", "", "scan the remote server at `URL` instead of a configured one")
	trusted := fs.Bool("trusted", false, "let the server's annotations lower risk (for a server not in the config)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	timeout := fs.Duration("timeout", 60*time.Second, "give up connecting after this `duration`")
	var headers headerFlags
	fs.Var(&headers, "header", "an HTTP `header` for --url, as 'Name: value' (repeatable)")
	if code, ok := parseFlags(fs, reorder(args)); !ok {
		return code
	}
	sc := &config.Server{Name: "scanned", Trusted: *trusted}
	switch {
	case len(command) > 0 && *url == "" && fs.NArg() == 0:
		sc.Name, sc.Command, sc.Args = filepath.Base(command[0]), command[0], command[1:]
	case *url != "" && len(command) == 0 && fs.NArg() == 0:
		sc.Name, sc.URL, sc.Headers = *url, *url, headers.m
	case fs.NArg() == 1 && *url == "" && len(command) == 0:
		cfg, err := config.Load(*cfgPath, os.LookupEnv)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitFailure
		}
		sc = nil
		for _, s := range cfg.Servers {
			if s.Name == fs.Arg(0) {
				sc = s
			}
		}
		if sc == nil {
			fmt.Fprintf(e.stderr, "toolgate scan: no server %q in %s\n", fs.Arg(0), *cfgPath)
			return exitFailure
		}
		if *policyPath == "" {
			*policyPath = sc.Policy
		}
	default:
		fmt.Fprintln(e.stderr, scanUsage)
		return exitUsage
	}
	var p *policy.Policy
	if *policyPath != "" {
		data, err := os.ReadFile(*policyPath)
		if err == nil {
			p, err = policy.Parse(*policyPath, data)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "toolgate scan: %v\n", err)
			return exitFailure
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tools, err := gateway.ListTools(ctx, sc, nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "toolgate scan: %s: %v\n", sc.Name, err)
		return exitFailure
	}
	views := gateway.Classify(sc, p, tools)
	rows := make([]catalog.Row, 0, len(views))
	for _, v := range views {
		rows = append(rows, catalog.Row{Tool: v.Name, Class: v.Class, Policy: v.Policy})
	}
	if *asJSON {
		err = catalog.WriteJSON(e.stdout, rows)
	} else {
		err = catalog.WriteTable(e.stdout, rows)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "toolgate scan: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// headerFlags collects repeated --header 'Name: value' flags.
type headerFlags struct{ m map[string]string }

func (h *headerFlags) String() string { return "" }

func (h *headerFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want 'Name: value', not %q", s)
	}
	if h.m == nil {
		h.m = make(map[string]string)
	}
	h.m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	return nil
}
