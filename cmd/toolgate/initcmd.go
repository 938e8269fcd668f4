package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/gateway"
)

const initUsage = `usage: toolgate init [--from CLIENT_CONFIG] [--dir DIR] [--force]
Reads the MCP servers of a client config (Claude Desktop's by default;
Cursor, VS Code and others work too), connects to each to classify its
tools, and writes DIR/toolgate.json with a recommended policy per server in
DIR/policies/NAME.json: deny by default, reads allowed, writes 30 and
executions 10 per minute per grant, destructive and financial tools held
for a person's approval. It then prints the client config that points the
client at the gateway.`

// claudeDesktopConfig is where Claude Desktop keeps its config.
func claudeDesktopConfig() string {
	home, _ := os.UserHomeDir()
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", "Claude", "claude_desktop_config.json")
	case "windows":
		return filepath.Join(os.Getenv("APPDATA"), "Claude", "claude_desktop_config.json")
	}
	return filepath.Join(home, ".config", "Claude", "claude_desktop_config.json")
}

func runInit(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "init")
	from := fs.String("from", claudeDesktopConfig(), "the MCP client config `file` to import")
	dir := fs.String("dir", ".", "write toolgate.json and policies/ in this `directory`")
	force := fs.Bool("force", false, "overwrite files that exist")
	timeout := fs.Duration("timeout", 60*time.Second, "give up connecting to a server after this `duration`")
	if code, ok := parseFlags(fs, reorder(args)); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(e.stderr, initUsage)
		return exitUsage
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(e.stderr, "toolgate init: "+format+"\n", args...)
		return exitFailure
	}
	data, err := os.ReadFile(*from)
	if err != nil {
		return fail("%v (name a client config with --from)", err)
	}
	entries, err := catalog.ParseClientConfig(data)
	if err != nil {
		return fail("%s: %v", *from, err)
	}
	if len(entries) == 0 {
		return fail("%s names no MCP servers", *from)
	}
	cfgPath := filepath.Join(*dir, "toolgate.json")
	if _, err := os.Stat(cfgPath); err == nil && !*force {
		return fail("%s exists; use --force to overwrite it", cfgPath)
	}

	type written struct {
		name   string
		counts map[catalog.Category]int
		err    error
	}
	var done []written
	servers := map[string]any{}
	for _, client := range slices.Sorted(maps.Keys(entries)) {
		ent := entries[client]
		if ent.Disabled {
			fmt.Fprintf(e.stderr, "skipping %s: disabled in the client config\n", client)
			continue
		}
		name := serverName(client)
		for servers[name] != nil {
			name += "_"
		}
		sc, warns := importEntry(name, ent)
		for _, w := range warns {
			fmt.Fprintf(e.stderr, "%s: %s\n", client, w)
		}
		lctx, cancel := context.WithTimeout(ctx, *timeout)
		tools, err := gateway.ListTools(lctx, sc, nil)
		cancel()
		var doc []byte
		w := written{name: name, counts: map[catalog.Category]int{}, err: err}
		if err == nil {
			classified := make([]catalog.Classified, 0, len(tools))
			for _, t := range tools {
				c := catalog.Classify(t, nil)
				classified = append(classified, catalog.Classified{Name: t.Name, Class: c})
				w.counts[c.Category]++
			}
			doc, err = catalog.Recommend(classified, nil)
			w.err = err
		}
		if w.err != nil {
			// Deny everything until someone looks: a server that could not
			// be classified gets no tools.
			doc = []byte("{\n  \"version\": \"1\",\n  \"default\": \"deny\"\n}\n")
		}
		rel := filepath.Join("policies", name+".json")
		if err := writeNew(filepath.Join(*dir, rel), doc, *force); err != nil {
			return fail("%v", err)
		}
		servers[name] = configEntry(sc, filepath.ToSlash(rel))
		done = append(done, w)
	}
	cfg := map[string]any{
		"listen":     config.DefaultListen,
		"state":      "./toolgate-data",
		"admin":      map[string]string{"listen": config.DefaultAdminListen},
		"mcpServers": servers,
	}
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(cfg)
	if err := writeNew(cfgPath, []byte(out.String()), *force); err != nil {
		return fail("%v", err)
	}

	fmt.Fprintf(e.stdout, "Wrote %s and a policy per server:\n", cfgPath)
	for _, w := range done {
		if w.err != nil {
			fmt.Fprintf(e.stdout, "  policies/%s.json  denies everything: the server could not be classified (%v)\n", w.name, w.err)
			continue
		}
		var parts []string
		for _, c := range catalog.Categories {
			if n := w.counts[c]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, strings.ToLower(c.String())))
			}
		}
		fmt.Fprintf(e.stdout, "  policies/%s.json  %s\n", w.name, strings.Join(parts, ", "))
	}
	fmt.Fprintf(e.stdout, "\nNext:\n  toolgate serve --config %s\n", cfgPath)
	snippet := map[string]any{}
	for _, w := range done {
		fmt.Fprintf(e.stdout, "  toolgate grant create --config %s --label my-agent-%s --server %s\n", cfgPath, w.name, w.name)
		snippet[w.name] = map[string]any{
			"url":     catalog.DefaultGatewayURL + "/mcp/" + w.name,
			"headers": map[string]string{"Authorization": "Bearer <the token of my-agent-" + w.name + ">"},
		}
	}
	fmt.Fprintf(e.stdout, "\nThen point the client at the gateway (replace its mcpServers with this):\n\n")
	enc = json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{"mcpServers": snippet})
	return exitOK
}

// serverName makes a client's server name usable in /mcp/NAME.
func serverName(s string) string {
	s = regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(s, "-")
	s = strings.TrimLeft(s, "._-")
	if s == "" {
		s = "server"
	}
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}

// vscodeEnv matches VS Code's ${env:NAME}, which the gateway spells ${NAME}.
var vscodeEnv = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)

// importEntry turns a client's server entry into the gateway's, with the
// values as the client would use them, and warns of what cannot carry over.
func importEntry(name string, ent catalog.ServerEntry) (*config.Server, []string) {
	var warns []string
	conv := func(s string) string {
		if strings.Contains(s, "${input:") {
			warns = append(warns, fmt.Sprintf("%q asks the client for input, which the gateway cannot: put the value in the config or an environment variable", s))
		}
		return vscodeEnv.ReplaceAllStringFunc(s, func(m string) string {
			v, _ := os.LookupEnv(vscodeEnv.FindStringSubmatch(m)[1])
			return v
		})
	}
	sc := &config.Server{Name: name, Command: conv(ent.Command), Cwd: conv(ent.Cwd), URL: conv(ent.URL), Transport: ent.Transport}
	for _, a := range ent.Args {
		sc.Args = append(sc.Args, conv(a))
	}
	if len(ent.Env) > 0 {
		sc.Env = map[string]string{}
		for k, v := range ent.Env {
			sc.Env[k] = conv(v)
		}
	}
	if len(ent.Headers) > 0 {
		sc.Headers = map[string]string{}
		for k, v := range ent.Headers {
			sc.Headers[k] = conv(v)
		}
	}
	if ent.EnvFile != "" {
		warns = append(warns, fmt.Sprintf("envFile %s is not read by the gateway: copy its variables into env", ent.EnvFile))
	}
	return sc, warns
}

// configEntry is a server's entry in toolgate.json. Dollar signs are
// doubled, so that the gateway reads the values as written rather than
// expanding them.
func configEntry(sc *config.Server, policy string) map[string]any {
	esc := func(s string) string { return strings.ReplaceAll(s, "$", "$$") }
	m := map[string]any{"policy": policy}
	if sc.Command != "" {
		m["command"] = esc(sc.Command)
		if len(sc.Args) > 0 {
			args := make([]string, len(sc.Args))
			for i, a := range sc.Args {
				args[i] = esc(a)
			}
			m["args"] = args
		}
		if sc.Cwd != "" {
			m["cwd"] = esc(sc.Cwd)
		}
	} else {
		m["url"] = esc(sc.URL)
	}
	escMap := func(in map[string]string) map[string]string {
		out := make(map[string]string, len(in))
		for k, v := range in {
			out[k] = esc(v)
		}
		return out
	}
	if len(sc.Env) > 0 {
		m["env"] = escMap(sc.Env)
	}
	if len(sc.Headers) > 0 {
		m["headers"] = escMap(sc.Headers)
	}
	if sc.Transport != "" {
		m["transport"] = sc.Transport
	}
	return m
}

// writeNew writes a file, creating its directory, refusing to replace one
// unless force.
func writeNew(path string, data []byte, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; use --force to overwrite it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
