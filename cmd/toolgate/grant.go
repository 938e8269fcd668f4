package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/gateway"
	"github.com/toolgate/toolgate/internal/grant"
)

const grantUsage = `usage:
  toolgate grant create --label LABEL --server NAME [--policy FILE] [--expires 30d] [--json]
  toolgate grant list [--json]
  toolgate grant revoke LABEL|ID [--json]
Each takes --config FILE, and --admin URL to use a running gateway's admin
API instead of the state directory (with the admin token in $` + gateway.AdminTokenEnv + `).`

// grantBackend is where the grant commands act: the state directory or a
// running gateway's admin API.
type grantBackend interface {
	create(ctx context.Context, req gateway.GrantRequest) (*gateway.Created, error)
	list(ctx context.Context) ([]gateway.GrantView, error)
	revoke(ctx context.Context, ref string) (*gateway.GrantView, error)
	close()
}

func runGrant(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, grantUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	fs := newFlags(e, "grant "+sub)
	cfgPath := fs.String("config", "toolgate.json", "the config `file`")
	admin := fs.String("admin", "", "a running gateway's admin `URL` (default: use the state directory)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	var req gateway.GrantRequest
	switch sub {
	case "create":
		fs.StringVar(&req.Label, "label", "", "the agent's `label`, such as ci-runner")
		fs.StringVar(&req.Server, "server", "", "the configured MCP `server` the grant may use")
		fs.StringVar(&req.Policy, "policy", "", "a policy `file` for this grant alone")
		fs.StringVar(&req.Expires, "expires", "", "expiry: a `duration` (30d, 12h) or an RFC 3339 time")
	case "list", "revoke":
	default:
		fmt.Fprintf(e.stderr, "toolgate grant: unknown subcommand %q\n%s\n", sub, grantUsage)
		return exitUsage
	}
	if code, ok := parseFlags(fs, reorder(args)); !ok {
		return code
	}
	switch {
	case sub == "create" && (req.Label == "" || req.Server == "" || fs.NArg() > 0),
		sub == "list" && fs.NArg() > 0,
		sub == "revoke" && fs.NArg() != 1:
		fmt.Fprintln(e.stderr, grantUsage)
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "toolgate grant %s: %v\n", sub, err)
		return exitFailure
	}
	var b grantBackend
	if *admin != "" {
		b = &adminBackend{base: strings.TrimSuffix(*admin, "/"), token: os.Getenv(gateway.AdminTokenEnv)}
	} else {
		cfg, err := config.Load(*cfgPath, os.LookupEnv)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitFailure
		}
		st, err := gateway.OpenGrants(ctx, cfg, true)
		if err != nil {
			return fail(err)
		}
		b = &stateBackend{store: st, cfg: cfg}
	}
	defer b.close()

	switch sub {
	case "create":
		c, err := b.create(ctx, req)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			return printJSON(e.stdout, c)
		}
		snippet, _ := json.MarshalIndent(c.ClientConfig, "  ", "  ")
		fmt.Fprintf(e.stdout, `Grant %s (%s) for server %q created.

Token (shown once; it is stored only as a hash):

  %s

MCP client config:

  %s
`, c.Grant.Label, c.Grant.ID, c.Grant.Server, c.Token, snippet)
		if c.Grant.Expires != nil {
			fmt.Fprintf(e.stdout, "\nExpires %s.\n", c.Grant.Expires.Format(time.RFC3339))
		}
	case "list":
		views, err := b.list(ctx)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			return printJSON(e.stdout, views)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LABEL\tID\tSERVER\tSTATUS\tCREATED\tLAST USED\tEXPIRES")
		for _, v := range views {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Label, v.ID, v.Server, v.Status,
				stamp(&v.Created), stamp(v.LastUsed), stamp(v.Expires))
		}
		_ = tw.Flush()
	case "revoke":
		v, err := b.revoke(ctx, fs.Arg(0))
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			return printJSON(e.stdout, v)
		}
		fmt.Fprintf(e.stdout, "Grant %s (%s) revoked: its next request is refused.\n", v.Label, v.ID)
	}
	return exitOK
}

// reorder moves flags before positional arguments, so that
// `grant revoke ci-runner --json` works as people type it.
func reorder(args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-"):
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && !isBoolFlag(a) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			rest = append(rest, a)
		}
	}
	return append(flags, rest...)
}

func isBoolFlag(a string) bool {
	name := strings.TrimLeft(a, "-")
	return name == "json" || name == "h" || name == "help" || name == "trusted" || name == "force"
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitFailure
	}
	return exitOK
}

// stateBackend acts on the grant store itself (the state directory, or
// PostgreSQL); a running gateway sees its changes at its next request.
type stateBackend struct {
	store grant.Store
	cfg   *config.Config
}

func (b *stateBackend) create(ctx context.Context, req gateway.GrantRequest) (*gateway.Created, error) {
	r, _ := http.NewRequestWithContext(ctx, "POST", "/", nil)
	c, err := gateway.CreateGrant(r, b.store, b.cfg, req, time.Now())
	if errors.Is(err, grant.ErrExists) {
		return nil, fmt.Errorf("a live grant is already labelled %q", req.Label)
	}
	return c, err
}

func (b *stateBackend) list(ctx context.Context) ([]gateway.GrantView, error) {
	list, err := b.store.List(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	views := make([]gateway.GrantView, 0, len(list))
	for _, g := range list {
		views = append(views, gateway.ViewOf(g, now))
	}
	return views, nil
}

func (b *stateBackend) revoke(ctx context.Context, ref string) (*gateway.GrantView, error) {
	g, err := b.store.Revoke(ctx, ref, time.Now())
	if err != nil {
		return nil, err
	}
	v := gateway.ViewOf(g, time.Now())
	return &v, nil
}

func (b *stateBackend) close() { _ = b.store.Close() }

// adminBackend acts through a running gateway's admin API.
type adminBackend struct {
	base, token string
	via         string // how decisions are made, for the record ("cli")
}

func (b *adminBackend) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	if b.via != "" {
		req.Header.Set("X-Toolgate-Via", b.via)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	return json.Unmarshal(data, out)
}

func (b *adminBackend) create(ctx context.Context, req gateway.GrantRequest) (*gateway.Created, error) {
	var c gateway.Created
	return &c, b.do(ctx, "POST", "/api/v1/grants", req, &c)
}

func (b *adminBackend) list(ctx context.Context) ([]gateway.GrantView, error) {
	var v []gateway.GrantView
	return v, b.do(ctx, "GET", "/api/v1/grants", nil, &v)
}

func (b *adminBackend) revoke(ctx context.Context, ref string) (*gateway.GrantView, error) {
	var v gateway.GrantView
	return &v, b.do(ctx, "DELETE", "/api/v1/grants/"+url.PathEscape(ref), nil, &v)
}

func (b *adminBackend) close() {}

// stream GETs path and calls line for each line of the answer (JSONL).
func (b *adminBackend) stream(ctx context.Context, path string, line func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if err := line(sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// openStore loads the config at path and opens one of the stores it names,
// for commands that work on the state directory (or PostgreSQL) directly.
func openStore[S any](ctx context.Context, path string, open func(context.Context, *config.Config) (S, error)) (S, error) {
	cfg, err := config.Load(path, os.LookupEnv)
	if err != nil {
		var zero S
		return zero, err
	}
	return open(ctx, cfg)
}
