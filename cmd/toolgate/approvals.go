package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/gateway"
)

const approvalsUsage = `usage:
  toolgate approvals list [--status pending|approved|denied|expired|all] [--json]
  toolgate approvals approve ID [--reason TEXT] [--by NAME] [--json]
  toolgate approvals deny ID --reason TEXT [--by NAME] [--json]
Calls held for a person's decision. Each takes --config FILE, and --admin
URL to use a running gateway's admin API instead of the state store (with
the admin token in $` + gateway.AdminTokenEnv + `). Deciding on the state
store works while the gateway is stopped; a running gateway sees it
within a second.`

func runApprovals(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, approvalsUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	fs := newFlags(e, "approvals "+sub)
	cfgPath := fs.String("config", "toolgate.json", "the config `file`")
	admin := fs.String("admin", "", "a running gateway's admin `URL` (default: use the state store)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	status := fs.String("status", approval.Pending, "list approvals with this `status`, or all")
	reason := fs.String("reason", "", "why, for the agent and the record")
	by := fs.String("by", os.Getenv("USER"), "who decides, for the record")
	switch sub {
	case "list", "approve", "deny":
	default:
		fmt.Fprintf(e.stderr, "toolgate approvals: unknown subcommand %q\n%s\n", sub, approvalsUsage)
		return exitUsage
	}
	if code, ok := parseFlags(fs, reorder(args)); !ok {
		return code
	}
	switch {
	case sub == "list" && fs.NArg() > 0, sub != "list" && fs.NArg() != 1:
		fmt.Fprintln(e.stderr, approvalsUsage)
		return exitUsage
	case sub == "deny" && strings.TrimSpace(*reason) == "":
		fmt.Fprintln(e.stderr, "toolgate approvals deny: give the agent a --reason")
		return exitUsage
	}
	if *by == "" {
		*by = "cli"
	}
	if *status == "all" {
		*status = ""
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "toolgate approvals %s: %v\n", sub, err)
		return exitFailure
	}
	var list []*approval.Approval
	if *admin != "" {
		b := &adminBackend{base: strings.TrimSuffix(*admin, "/"), token: os.Getenv(gateway.AdminTokenEnv), via: approval.ViaCLI}
		if sub == "list" {
			if err := b.do(ctx, "GET", "/api/v1/approvals?status="+url.QueryEscape(*status), nil, &list); err != nil {
				return fail(err)
			}
		} else {
			var a approval.Approval
			if err := b.do(ctx, "POST", "/api/v1/approvals/"+url.PathEscape(fs.Arg(0))+"/"+sub, gateway.DecideRequest{Reason: *reason, By: *by}, &a); err != nil {
				return fail(err)
			}
			list = []*approval.Approval{&a}
		}
	} else {
		st, err := openStore(ctx, *cfgPath, gateway.OpenApprovals)
		if err != nil {
			return fail(err)
		}
		defer st.Close()
		if sub == "list" {
			if _, err := st.Expire(ctx, time.Now()); err != nil {
				return fail(err)
			}
			if list, err = st.List(ctx, approval.Filter{Status: *status}); err != nil {
				return fail(err)
			}
		} else {
			a, err := st.Decide(ctx, fs.Arg(0), approval.Decision{Approve: sub == "approve", By: *by, Reason: *reason, Via: approval.ViaCLI, At: time.Now()})
			if err != nil {
				return fail(err)
			}
			list = []*approval.Approval{a}
		}
	}
	if *asJSON {
		if sub != "list" {
			return printJSON(e.stdout, list[0])
		}
		if list == nil {
			list = []*approval.Approval{}
		}
		return printJSON(e.stdout, list)
	}
	if sub != "list" {
		a := list[0]
		fmt.Fprintf(e.stdout, "Approval %s %s by %s: %s on %s for %s.\n", a.ID, a.Status, a.DecidedBy, a.Tool, a.Server, a.GrantLabel)
		if a.Status == approval.Approved {
			fmt.Fprintln(e.stdout, "The held call goes through now; if it already timed out, one identical retry will.")
		}
		return exitOK
	}
	if len(list) == 0 {
		fmt.Fprintf(e.stdout, "No %s approvals.\n", strings.TrimSpace(*status))
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tSERVER\tTOOL\tGRANT\tCREATED\tARGUMENTS")
	for _, a := range list {
		preview := string(a.Preview)
		if len(preview) > 60 {
			preview = preview[:57] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Status, a.Server, a.Tool, a.GrantLabel, a.Created.Local().Format(time.DateTime), preview)
	}
	_ = tw.Flush()
	return exitOK
}
