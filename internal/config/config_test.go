package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/toolgate/toolgate/internal/source"
)

var update = flag.Bool("update", false, "rewrite the golden parts of testdata/*.txtar")

// env is a getenv over a fixed set of variables.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

var testEnv = env(map[string]string{
	"OKTA_ORG_URL":   "https://example.okta.com",
	"OKTA_API_TOKEN": "tok",
	"DOCS_TOKEN":     "docs-secret",
	"EMPTY":          "",
	"PORT":           "9090",
})

// The example of DESIGN.md §4.
const designExample = `{
  "listen": "127.0.0.1:8080",
  "state": "./toolgate-data",
  "mcpServers": {
    "okta": { "command": "node", "args": ["okta/dist/index.js"],
              "env": { "OKTA_ORG_URL": "${OKTA_ORG_URL}", "OKTA_API_TOKEN": "${OKTA_API_TOKEN}" },
              "policy": "policies/okta.json" },
    "docs": { "url": "https://example.com/mcp", "headers": { "Authorization": "Bearer ${DOCS_TOKEN}" },
              "policy": "policies/docs.json" }
  }
}`

func TestParseDesignExample(t *testing.T) {
	c, err := Parse("/etc/toolgate/toolgate.json", []byte(designExample), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Listen:         "127.0.0.1:8080",
		State:          "/etc/toolgate/toolgate-data",
		Auth:           Auth{Mode: "grants"},
		Admin:          Admin{Listen: "127.0.0.1:8081"},
		Log:            Log{Format: "text", Level: "info"},
		Bounds:         DefaultBounds(),
		Audit:          Audit{Arguments: "keys", Retention: DefaultRetention},
		Approvals:      Approvals{Expire: DefaultApprovalExpire},
		Pin:            "warn",
		PostgresSchema: "public",
		Servers: []*Server{
			{
				Name:    "okta",
				Command: "node",
				Args:    []string{"okta/dist/index.js"},
				Env:     map[string]string{"OKTA_ORG_URL": "https://example.okta.com", "OKTA_API_TOKEN": "tok"},
				Policy:  "/etc/toolgate/policies/okta.json",
			},
			{
				Name:    "docs",
				URL:     "https://example.com/mcp",
				Headers: map[string]string{"Authorization": "Bearer docs-secret"},
				Policy:  "/etc/toolgate/policies/docs.json",
			},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(design example) =\n%s\nwant\n%s", dump(c), dump(want))
	}
}

func dump(c *Config) string {
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(strings.TrimSpace(strings.ReplaceAll(
		strings.Join([]string{c.Path, c.Listen, c.State, c.Auth.Mode, c.Admin.Listen, c.Redis, c.Postgres, c.Log.Format, c.Log.Level}, "|"),
		"\n", " ")), "\t", " "))
	for _, s := range c.Servers {
		b.WriteString("\n")
		b.WriteString(strings.Join([]string{s.Name, s.Command, strings.Join(s.Args, ","), s.Cwd, s.URL, s.Transport, s.Policy}, "|"))
	}
	return b.String()
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, file, doc string
		check           func(t *testing.T, c *Config)
	}{
		{
			name: "defaults",
			file: "toolgate.json",
			doc:  `{}`,
			check: func(t *testing.T, c *Config) {
				if c.Listen != DefaultListen || c.Admin.Listen != DefaultAdminListen || c.State != "toolgate-data" ||
					c.Auth.Mode != "grants" || c.Log != (Log{"text", "info"}) || c.Servers != nil || c.Path != "" ||
					c.Bounds != DefaultBounds() || c.TLS != nil || c.Pin != "warn" ||
					c.Audit != (Audit{Arguments: "keys", Retention: DefaultRetention}) || c.Approvals.Expire != DefaultApprovalExpire {
					t.Errorf("Parse({}) = %s; want the defaults", dump(c))
				}
			},
		},
		{
			name: "expansion everywhere",
			file: "dir/t.json",
			doc: `{"listen": "localhost:${PORT}", "mcpServers": {"s": {
				"command": "${CMD:-npx}", "args": ["$$HOME", "${EMPTY:-fallback}", "${EMPTY}", "a$b", "$"],
				"env": {"K": "${OKTA_API_TOKEN}"}, "cwd": "${CWD:-work}"}}}`,
			check: func(t *testing.T, c *Config) {
				s := c.Servers[0]
				if c.Listen != "localhost:9090" || s.Command != "npx" || s.Env["K"] != "tok" || s.Cwd != filepath.Join("dir", "work") {
					t.Errorf("Parse = %s", dump(c))
				}
				if want := []string{"$HOME", "fallback", "", "a$b", "$"}; !reflect.DeepEqual(s.Args, want) {
					t.Errorf("Args = %q; want %q", s.Args, want)
				}
			},
		},
		{
			name: "client type aliases",
			file: "t.json",
			doc: `{"mcpServers": {
				"a": {"type": "stdio", "command": "x"},
				"b": {"type": "http", "url": "http://localhost:1/mcp"},
				"c": {"type": "streamable-http", "url": "https://h/mcp"},
				"d": {"type": "sse", "url": "https://h/sse"},
				"e": {"transport": "streamable", "url": "https://h/mcp"},
				"f": {"url": "https://h/mcp"},
				"g": {"command": "x", "disabled": true}}}`,
			check: func(t *testing.T, c *Config) {
				var got []string
				for _, s := range c.Servers {
					got = append(got, s.Name+"="+s.Transport)
				}
				if want := "a=stdio b=streamable c=streamable d=sse e=streamable f= g="; strings.Join(got, " ") != want {
					t.Errorf("transports = %s; want %s", strings.Join(got, " "), want)
				}
				if !c.Servers[6].Disabled || c.Servers[0].Disabled {
					t.Errorf("Disabled = %v, %v; want false, true", c.Servers[0].Disabled, c.Servers[6].Disabled)
				}
			},
		},
		{
			name: "yaml and oauth",
			file: "/srv/t.yaml",
			doc: `listen: 0.0.0.0:8080
state: /var/lib/toolgate
auth:
  oauth:
    issuer: https://id.example.com
    jwks_url: https://id.example.com/jwks
    audience: toolgate
admin: {listen: "[::1]:9000"}
redis: redis://localhost:6379/0
postgres: host=db user=toolgate
log: {format: json, level: debug}
mcpServers:
  github:
    command: docker
    args: [run, -i, ghcr.io/github/github-mcp-server]
    policy: /abs/github.json
`,
			check: func(t *testing.T, c *Config) {
				want := Auth{Mode: "oauth", Issuer: "https://id.example.com", JWKSURL: "https://id.example.com/jwks", Audience: "toolgate"}
				if c.Auth != want || c.State != "/var/lib/toolgate" || c.Admin.Listen != "[::1]:9000" ||
					c.Redis != "redis://localhost:6379/0" || c.Postgres != "host=db user=toolgate" ||
					c.Log != (Log{"json", "debug"}) || c.Servers[0].Policy != "/abs/github.json" {
					t.Errorf("Parse = %s %+v", dump(c), c.Auth)
				}
			},
		},
		{
			name: "grants on any address",
			file: "t.json",
			doc:  `{"listen": ":8080", "auth": "grants", "postgres": "postgresql://u@db/tg"}`,
			check: func(t *testing.T, c *Config) {
				if c.Auth.Mode != "grants" || c.Listen != ":8080" {
					t.Errorf("Parse = %s", dump(c))
				}
			},
		},
		{
			name: "audit, approvals, tracing and pinning",
			file: "t.yaml",
			doc: `audit: {arguments: values, sync: true, retention: 30d}
approvals:
  public_url: https://tg.example.com/
  expire: 2h
  webhooks:
    - url: https://hooks.example.com/a
    - {url: "https://hooks.slack.com/services/T/B/X", format: slack, secret: "${DOCS_TOKEN}"}
tracing: {endpoint: "http://127.0.0.1:4318", service_name: gw}
pin: strict
mcpServers:
  a: {command: x, trusted: true, pin: "off"}
  b: {command: y}
`,
			check: func(t *testing.T, c *Config) {
				if c.Audit != (Audit{Arguments: "values", Sync: true, Retention: 30 * 24 * time.Hour}) {
					t.Errorf("Audit = %+v", c.Audit)
				}
				want := Approvals{PublicURL: "https://tg.example.com", Expire: 2 * time.Hour, Webhooks: []Webhook{
					{URL: "https://hooks.example.com/a", Format: "json"},
					{URL: "https://hooks.slack.com/services/T/B/X", Format: "slack", Secret: "docs-secret"},
				}}
				if !reflect.DeepEqual(c.Approvals, want) {
					t.Errorf("Approvals = %+v; want %+v", c.Approvals, want)
				}
				if c.Tracing != (Tracing{Endpoint: "http://127.0.0.1:4318", ServiceName: "gw"}) || c.Pin != "strict" {
					t.Errorf("Tracing = %+v, Pin = %q", c.Tracing, c.Pin)
				}
				if a, b := c.Servers[0], c.Servers[1]; !a.Trusted || a.Pin != "off" || b.Trusted || b.Pin != "" {
					t.Errorf("servers = %s", dump(c))
				}
			},
		},
		{
			name: "loopback forms",
			file: "t.json",
			doc:  `{"listen": "[::1]:80", "auth": "none", "admin": {"listen": "localhost:0"}}`,
			check: func(t *testing.T, c *Config) {
				if c.Listen != "[::1]:80" {
					t.Errorf("Parse = %s", dump(c))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.file, []byte(tt.doc), testEnv)
			if err != nil {
				t.Fatalf("Parse(%s):\n%v", tt.file, err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8080", true},
		{"127.1.2.3:1", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"LocalHost:8080", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"[::]:8080", false},
		{"10.0.0.1:8080", false},
		{"example.com:8080", false},
		{"localhost.evil.com:8080", false},
	}
	for _, tt := range tests {
		if got := isLoopback(tt.addr); got != tt.want {
			t.Errorf("isLoopback(%q) = %v; want %v", tt.addr, got, tt.want)
		}
		doc := `{"listen": "` + tt.addr + `", "auth": "none"}`
		if _, err := Parse("t.json", []byte(doc), testEnv); (err == nil) != tt.want {
			t.Errorf("Parse(%s) error = %v; want error %v", doc, err, !tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "toolgate.json")
	if err := os.WriteFile(path, []byte(`{"mcpServers": {"s": {"command": "x", "policy": "p.json"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.State != filepath.Join(dir, "toolgate-data") || c.Servers[0].Policy != filepath.Join(dir, "p.json") {
		t.Errorf("Load = %s", dump(c))
	}
	if _, err := Load(filepath.Join(dir, "missing.json"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v; want os.ErrNotExist", err)
	}
	os.WriteFile(path, []byte(`{"listen": 1}`), 0o600)
	_, err = Load(path, testEnv)
	var l source.Errors
	if !errors.As(err, &l) || len(l) != 1 || l[0].Pos.File != path {
		t.Errorf("Load(bad) error = %v; want one positioned error in %s", err, path)
	}
}

func TestNilGetenvUsesEnvironment(t *testing.T) {
	t.Setenv("TOOLGATE_CONFIG_TEST", "127.0.0.1:7000")
	c, err := Parse("t.json", []byte(`{"listen": "${TOOLGATE_CONFIG_TEST}"}`), nil)
	if err != nil || c.Listen != "127.0.0.1:7000" {
		t.Errorf("Parse with nil getenv = %v, %v; want listen from the environment", c, err)
	}
}

// TestErrorsGolden checks the messages for invalid configs in
// testdata/errors_*.txtar: every file X of an archive, other than golden
// files, is parsed (with the variables of testEnv), and X.errors holds what
// Parse reports. go test -update rewrites the golden files.
func TestErrorsGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/errors_*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata/errors_*.txtar")
	}
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		changed := false
		for _, f := range ar.Files {
			if strings.HasSuffix(f.Name, ".errors") {
				continue
			}
			_, err := Parse(f.Name, f.Data, testEnv)
			if err == nil {
				t.Errorf("%s: Parse(%s) = nil error; want errors", file, f.Name)
				continue
			}
			got := err.Error() + "\n"
			if strings.Contains(got, "docs-secret") || strings.Contains(got, "tok\"") {
				t.Errorf("%s: errors for %s show a variable's value:\n%s", file, f.Name, got)
			}
			name := f.Name + ".errors"
			i := slicesIndex(ar, name)
			if i < 0 {
				ar.Files = append(ar.Files, txtar.File{Name: name})
				i = len(ar.Files) - 1
			}
			if golden := string(ar.Files[i].Data); golden != got {
				if *update {
					ar.Files[i].Data = []byte(got)
					changed = true
					continue
				}
				t.Errorf("%s: %s differs (go test -update accepts the new output)\n--- now\n%s--- golden\n%s", file, name, got, golden)
			}
		}
		if changed {
			if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func slicesIndex(ar *txtar.Archive, name string) int {
	for i, f := range ar.Files {
		if f.Name == name {
			return i
		}
	}
	return -1
}

func FuzzParse(f *testing.F) {
	f.Add("t.json", []byte(designExample))
	f.Add("t.yaml", []byte("listen: ${PORT:-x}\nmcpServers: {a: {url: 'http://h/${DOCS_TOKEN}'}}\n"))
	f.Add("t.json", []byte(`{"auth": {"oauth": {"issuer": "$$", "jwks_url": "${", "audience": "${A:-}"}}}`))
	if ar, err := txtar.ParseFile("testdata/errors_config.txtar"); err == nil {
		for _, af := range ar.Files {
			if !strings.HasSuffix(af.Name, ".errors") {
				f.Add(af.Name, af.Data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		c, err := Parse(name, data, testEnv)
		if err != nil {
			var l source.Errors
			if !errors.As(err, &l) || len(l) == 0 {
				t.Fatalf("Parse error %T %v; want a non-empty source.Errors", err, err)
			}
			for _, e := range l {
				if e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Errorf("error without a position: %v", e)
				}
			}
			if c != nil {
				t.Error("Parse returned a config and an error")
			}
			return
		}
		if c.Auth.Mode == "none" && !isLoopback(c.Listen) {
			t.Errorf("auth none accepted on %q", c.Listen)
		}
		for _, s := range c.Servers {
			if (s.Command == "") == (s.URL == "") {
				t.Errorf("server %q: command %q, url %q; want exactly one", s.Name, s.Command, s.URL)
			}
			if !serverName.MatchString(s.Name) {
				t.Errorf("server name %q accepted", s.Name)
			}
		}
	})
}
