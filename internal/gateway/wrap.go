package gateway

import (
	"context"
	"io"
	"path/filepath"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/config"
)

// Wrap serves one agent over in and out (stdio) with the upstream command
// behind the policy file at policyPath ("" for none), the same enforcement
// as over HTTP. It returns when the agent disconnects or ctx ends. The policy
// file is reloaded when it changes.
func Wrap(ctx context.Context, policyPath string, command []string, in io.ReadCloser, out io.WriteCloser, opts *Options) error {
	name := filepath.Base(command[0])
	cfg := config.Defaults()
	cfg.Listen, cfg.State = "stdio", "" // no state: nothing outlives the client's session
	cfg.Auth.Mode = "none"              // the client started the gateway itself
	cfg.Servers = []*config.Server{{
		Name:    name,
		Command: command[0],
		Args:    command[1:],
		Policy:  policyPath,
	}}
	g, err := New(cfg, opts)
	if err != nil {
		return err
	}
	defer g.Close()
	watchCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { g.watch(watchCtx) })
	defer func() {
		stop()
		wg.Wait()
	}()
	return g.Front(name).ServeStdio(ctx, &mcp.IOTransport{Reader: in, Writer: out})
}
