package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/gateway"
)

const pinsUsage = `usage:
  toolgate pins list [--server NAME] [--json]
  toolgate pins accept SERVER TOOL [--digest DIGEST] [--by NAME] [--json]
Tool pins record each upstream tool's definition when first seen; a
definition that changes waits here to be reviewed and accepted (with
pin: strict the changed tool is withheld until then). Each takes --config
FILE, and --admin URL to use a running gateway's admin API instead of the
state directory (with the admin token in $` + gateway.AdminTokenEnv + `).`

func runPins(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, pinsUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	fs := newFlags(e, "pins "+sub)
	cfgPath := fs.String("config", "toolgate.json", "the config `file`")
	admin := fs.String("admin", "", "a running gateway's admin `URL` (default: use the state directory)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	server := fs.String("server", "", "only this `server`'s tools")
	digest := fs.String("digest", "", "accept only this pending `digest` (default: whatever is pending)")
	by := fs.String("by", os.Getenv("USER"), "who accepts, for the record")
	switch sub {
	case "list", "accept":
	default:
		fmt.Fprintf(e.stderr, "toolgate pins: unknown subcommand %q\n%s\n", sub, pinsUsage)
		return exitUsage
	}
	if code, ok := parseFlags(fs, reorder(args)); !ok {
		return code
	}
	if (sub == "list" && fs.NArg() > 0) || (sub == "accept" && fs.NArg() != 2) {
		fmt.Fprintln(e.stderr, pinsUsage)
		return exitUsage
	}
	if *by == "" {
		*by = "cli"
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "toolgate pins %s: %v\n", sub, err)
		return exitFailure
	}
	var pins []catalog.Pin
	if *admin != "" {
		b := &adminBackend{base: strings.TrimSuffix(*admin, "/"), token: os.Getenv(gateway.AdminTokenEnv)}
		if sub == "list" {
			if err := b.do(ctx, "GET", "/api/v1/pins?server="+url.QueryEscape(*server), nil, &pins); err != nil {
				return fail(err)
			}
		} else {
			var p catalog.Pin
			path := "/api/v1/pins/" + url.PathEscape(fs.Arg(0)) + "/" + url.PathEscape(fs.Arg(1)) + "/accept"
			if err := b.do(ctx, "POST", path, map[string]string{"digest": *digest, "by": *by}, &p); err != nil {
				return fail(err)
			}
			pins = []catalog.Pin{p}
		}
	} else {
		st, err := openStore(ctx, *cfgPath, gateway.OpenPins)
		if err != nil {
			return fail(err)
		}
		defer st.Close()
		if sub == "list" {
			if pins, err = st.List(ctx, *server); err != nil {
				return fail(err)
			}
		} else {
			p, err := gateway.AcceptPin(ctx, st, fs.Arg(0), fs.Arg(1), *digest, *by, time.Now())
			if err != nil {
				return fail(err)
			}
			pins = []catalog.Pin{p}
		}
	}
	if *asJSON {
		if pins == nil {
			pins = []catalog.Pin{}
		}
		if sub == "accept" {
			return printJSON(e.stdout, pins[0])
		}
		return printJSON(e.stdout, pins)
	}
	if sub == "accept" {
		fmt.Fprintf(e.stdout, "Accepted the new definition of %s/%s (%s).\n", pins[0].Server, pins[0].Tool, pins[0].Digest)
		return exitOK
	}
	if len(pins) == 0 {
		fmt.Fprintln(e.stdout, "No tools pinned yet: pins are recorded as the gateway first sees each tool.")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tTOOL\tSTATUS\tPINNED\tPENDING\tFIRST SEEN")
	for _, p := range pins {
		pending := "-"
		if p.Pending != nil {
			pending = short(p.Pending.Digest) + " since " + p.Pending.SeenAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Server, p.Tool, p.Status, short(p.Digest), pending, p.FirstSeen.Local().Format(time.DateTime))
	}
	_ = tw.Flush()
	return exitOK
}

// short abbreviates a digest for tables.
func short(d string) string {
	d = strings.TrimPrefix(d, catalog.DigestPrefix)
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
