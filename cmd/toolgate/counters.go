package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/gateway"
)

func runCounters(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "counters")
	cfgPath := fs.String("config", "toolgate.json", "the config `file`")
	admin := fs.String("admin", "", "the running gateway's admin `URL` (default: from the config)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	base := *admin
	if base == "" {
		cfg, err := config.Load(*cfgPath, os.LookupEnv)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitFailure
		}
		scheme := "http"
		if cfg.Admin.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + cfg.Admin.Listen
	}
	b := &adminBackend{base: strings.TrimSuffix(base, "/"), token: os.Getenv(gateway.AdminTokenEnv)}
	var counters []gateway.Counter
	if err := b.do(ctx, "GET", "/api/v1/counters", nil, &counters); err != nil {
		fmt.Fprintf(e.stderr, "toolgate counters: %v (is the gateway running, and is $%s set?)\n", err, gateway.AdminTokenEnv)
		return exitFailure
	}
	if *asJSON {
		return printJSON(e.stdout, counters)
	}
	if len(counters) == 0 {
		fmt.Fprintln(e.stdout, "No budgets in use.")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tCOUNTER\tSCOPE\tOWNER\tUSED/MAX\tWINDOW\tNEXT FREE")
	for _, c := range counters {
		owner := c.Owner
		if owner == "" {
			owner = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\tin %s\n", c.Server, c.Counter, c.Scope, owner, c.Used, c.Max, c.Window, c.NextFree.Round(time.Second))
	}
	_ = tw.Flush()
	return exitOK
}
