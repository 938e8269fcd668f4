package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/gateway"
	"github.com/toolgate/toolgate/internal/oktasim"
)

// seedPolicy is the policy the product began from: provision_applications
// capped at 30 per minute per agent, everything else on the server denied.
//
//go:embed seed-policy.json
var seedPolicy []byte

func runDemo(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "demo")
	listen := fs.String("listen", "127.0.0.1:8080", "agent `address`")
	admin := fs.String("admin", "127.0.0.1:8081", "admin `address`")
	dir := fs.String("dir", "", "`directory` for the demo's policy file (default: a new temporary directory)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	logger, err := newLogger(e.stderr, "text", *logLevel)
	if err != nil {
		fmt.Fprintf(e.stderr, "toolgate demo: %v\n", err)
		return exitUsage
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "toolgate-demo-"); err != nil {
			fmt.Fprintf(e.stderr, "toolgate demo: %v\n", err)
			return exitFailure
		}
	}
	policyPath := filepath.Join(*dir, "okta-policy.json")
	if _, err := os.Stat(policyPath); os.IsNotExist(err) {
		if err := os.WriteFile(policyPath, seedPolicy, 0o644); err != nil {
			fmt.Fprintf(e.stderr, "toolgate demo: %v\n", err)
			return exitFailure
		}
	}

	// The simulator is a real MCP server on a loopback port, so the gateway
	// reaches it exactly as it would reach the real one.
	sim := oktasim.New(nil)
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(e.stderr, "toolgate demo: %v\n", err)
		return exitFailure
	}
	simSrv := &http.Server{
		Handler:           mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return sim.Server() }, nil),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = simSrv.Serve(simLn) }()
	defer simSrv.Close()

	cfg := config.Defaults()
	cfg.Listen, cfg.Admin.Listen = *listen, *admin
	cfg.State = filepath.Join(*dir, "state")
	cfg.Servers = []*config.Server{{
		Name:   "okta",
		URL:    "http://" + simLn.Addr().String() + "/mcp",
		Policy: policyPath,
	}}
	var notice bytes.Buffer // the admin token, shown with the rest below
	g, err := gateway.New(cfg, &gateway.Options{Logger: logger, Notice: &notice, Version: version})
	if err != nil {
		fmt.Fprintf(e.stderr, "toolgate demo: %v\n", err)
		return exitFailure
	}
	return serve(ctx, e, g, func(agent, adminAddr net.Addr) {
		url := fmt.Sprintf("http://%s/mcp/okta", agent)
		// The demo's agent credential: a grant like any other, made with
		// the same code as `toolgate grant create`.
		r, _ := http.NewRequestWithContext(ctx, "POST", "/", nil)
		c, err := gateway.CreateGrant(r, g.Grants(), cfg, gateway.GrantRequest{Label: fmt.Sprintf("demo-agent-%d", time.Now().Unix()), Server: "okta"}, time.Now())
		if err != nil {
			logger.Error("creating the demo's grant", "error", err)
			return
		}
		entry := fmt.Sprintf(`{"mcpServers": {"okta": {"type": "http", "url": %q, "headers": {"Authorization": "Bearer %s"}}}}`, url, c.Token)
		fmt.Fprintf(e.stdout, `Toolgate demo: the Okta MCP server's 21 tools (simulated, in memory)
behind the seed policy: provision_applications is capped at 30 calls a
minute per agent, and every other tool is denied.

  MCP endpoint   %s
  Agent token    %s
  Policy file    %s
                 (edit and save it: the gateway reloads it at once)
  Console        http://%s/  (sign in with the admin token%s)
  Readiness      http://%s/readyz

Add this to your MCP client's config (Claude Desktop, Cursor, VS Code...):

  %s
%s
Press Ctrl-C to stop.
`, url, c.Token, policyPath, adminAddr, tokenHint(notice.Len() > 0), adminAddr, entry, notice.String())
	})
}

// tokenHint says where the demo's admin token is: shown below when the
// demo made it, else in the environment.
func tokenHint(shown bool) string {
	if shown {
		return " below"
	}
	return " in $" + gateway.AdminTokenEnv
}
