// Package config reads the gateway's config file (DESIGN.md §4): where the
// gateway listens, where it keeps its state, how agents authenticate, and
// the upstream MCP servers it serves, each behind its policy.
//
// The mcpServers object has the format MCP clients already use (Claude
// Desktop, Cursor, VS Code), so entries can be pasted from a client's config.
// Every string value may refer to environment variables as ${VAR} or
// ${VAR:-default}; $$ is a literal $. Reading is strict: unknown fields,
// duplicate keys, wrong types and bad values are all reported at once, each
// as file:line:col: message.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/source"
)

// Defaults for the fields a config file leaves out.
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultAdminListen = "127.0.0.1:8081"
	DefaultState       = "./toolgate-data"
)

// Config is a parsed, validated config file. Parse returns it complete,
// defaults applied and paths resolved; nothing modifies it afterwards, so it
// may be read concurrently. The zero Config has no defaults: code that
// builds one by hand (tests, the demo) fills in what it uses.
type Config struct {
	// Path is the file the config was loaded from; "" when it was parsed
	// from bytes.
	Path string
	// Listen is the agents' address, host:port; 127.0.0.1:8080 by default.
	Listen string
	// State is the directory of the embedded store, resolved against the
	// config file's directory; ./toolgate-data by default.
	State string
	Auth  Auth
	Admin Admin
	// TLS, when set, serves agents over HTTPS.
	TLS *TLS
	// AllowedOrigins are browser origins (scheme://host[:port]) trusted to
	// call the agent endpoints cross-origin; others get 403.
	AllowedOrigins []string
	// Bounds limit what one request or one grant may use.
	Bounds Bounds
	// RateLimits configures how the policy's limits are kept.
	RateLimits RateLimits
	Redis      string // URL of a shared Redis for counters; "" for none
	Postgres   string // URL or DSN of a shared PostgreSQL for records; "" for none
	// PostgresSchema is the schema of the gateway's tables in Postgres;
	// "public" by default. Gateways share state when they share it.
	PostgresSchema string
	Log            Log
	// Audit configures the audit trail.
	Audit Audit
	// Approvals configures how people are asked to decide held calls.
	Approvals Approvals
	// Tracing, when its endpoint is set, exports a span per call over OTLP.
	Tracing Tracing
	// Pin is the default tool-pinning mode of servers that set none: "warn"
	// (the default: a changed tool definition is logged, recorded and
	// counted), "strict" (a changed tool is also withheld until an admin
	// accepts it) or "off".
	Pin string
	// Servers are the upstream servers, in file order, disabled ones too.
	Servers []*Server
}

// Audit configures the audit trail.
type Audit struct {
	// Arguments is "keys" (the default: argument names and a digest) or
	// "values" (the values too, with secret-looking ones redacted).
	Arguments string
	// Sync makes each record durable before its call's response leaves;
	// otherwise records are written in batches, each within a second.
	Sync bool
	// Retention is how long records are kept; zero keeps them forever.
	Retention time.Duration
}

// DefaultRetention is how long audit records are kept by default.
const DefaultRetention = 90 * 24 * time.Hour

// Approvals configures how people are asked to decide held calls.
type Approvals struct {
	// PublicURL is the base of the one-click links sent with webhooks, as
	// approvers reach the admin listener (https://toolgate.example.com);
	// "" derives it from admin.listen.
	PublicURL string
	// Webhooks are told of every new pending approval.
	Webhooks []Webhook
	// Expire is how long a pending approval may still be decided; 24 hours
	// by default.
	Expire time.Duration
}

// Webhook is a URL that receives a JSON POST for each new pending approval.
type Webhook struct {
	URL string
	// Format is "json" (the default) or "slack" (an incoming-webhook
	// payload with approve and deny buttons).
	Format string
	// Secret, when set, signs each request body (HMAC-SHA256).
	Secret string
}

// Tracing configures OpenTelemetry traces.
type Tracing struct {
	// Endpoint is the OTLP/HTTP collector URL (http://127.0.0.1:4318);
	// "" turns tracing off.
	Endpoint string
	// ServiceName names the gateway in traces; "toolgate" by default.
	ServiceName string
}

// Auth says how agents authenticate. In the file, auth is "none", "grants",
// or {"oauth": {"issuer": URL, "jwks_url": URL, "audience": STRING}}.
type Auth struct {
	// Mode is "grants" (bearer tokens issued by the gateway; the default),
	// "none" (accepted only on a loopback listener) or "oauth".
	Mode string
	// Issuer, JWKSURL and Audience configure Mode "oauth".
	Issuer, JWKSURL, Audience string
}

// Admin configures the admin API and console.
type Admin struct {
	// Listen is the admin address, host:port; 127.0.0.1:8081 by default.
	Listen string
	// TLS, when set, serves the admin API over HTTPS.
	TLS *TLS
}

// RateLimits configures the budget store.
type RateLimits struct {
	// FailOpen admits calls under a limit when the budget store cannot be
	// reached; by default they are refused.
	FailOpen bool
}

// TLS names a certificate and its key, PEM files resolved against the
// config file's directory.
type TLS struct {
	Cert, Key string
}

// Bounds are the resource limits of the agent endpoints. Zero fields take
// the defaults below.
type Bounds struct {
	MaxBodyBytes        int64 // one HTTP request body
	MaxDepth            int   // JSON nesting of a call's arguments
	MaxArgumentBytes    int64 // a call's arguments, as sent
	MaxSessionsPerGrant int   // open MCP sessions of one grant
	MaxCallsPerGrant    int   // tools/call in flight for one grant
}

// Default bounds: generous for real agents, small enough that one client
// cannot exhaust the gateway.
const (
	DefaultMaxBodyBytes        = 4 << 20
	DefaultMaxDepth            = 64
	DefaultMaxArgumentBytes    = 1 << 20
	DefaultMaxSessionsPerGrant = 64
	DefaultMaxCallsPerGrant    = 64
)

// Log configures the gateway's log.
type Log struct {
	Format string // "text" (the default) or "json"
	Level  string // "debug", "info" (the default), "warn" or "error"
}

// Server is one upstream MCP server, served at /mcp/NAME and /sse/NAME.
// Exactly one of Command (a stdio server) and URL (a remote one) is set.
type Server struct {
	// Name is the key in mcpServers, usable as a URL path segment.
	Name string

	// Command, Args, Env and Cwd start a stdio server. Cwd is resolved
	// against the config file's directory; Command is left as written, to be
	// found on PATH like an MCP client would.
	Command string
	Args    []string
	Env     map[string]string
	Cwd     string

	// URL and Headers reach a remote server.
	URL     string
	Headers map[string]string

	// Transport is "stdio", "streamable", "sse", or "" to choose: stdio with
	// a command, else Streamable HTTP with a fallback to SSE. The file may
	// give it as transport, or as type with the values MCP clients use
	// ("stdio", "http", "streamable-http", "sse").
	Transport string

	// Policy is the policy file, resolved against the config file's
	// directory; "" when the server has none (every call passes).
	Policy string

	// Disabled servers are not served.
	Disabled bool

	// Trusted servers' tool annotations may lower a tool's risk class;
	// others' may only raise it.
	Trusted bool
	// Pin is this server's tool-pinning mode ("off", "warn", "strict");
	// "" takes the config's.
	Pin string
}

// DefaultBounds returns the default resource limits.
func DefaultBounds() Bounds {
	return Bounds{
		MaxBodyBytes:        DefaultMaxBodyBytes,
		MaxDepth:            DefaultMaxDepth,
		MaxArgumentBytes:    DefaultMaxArgumentBytes,
		MaxSessionsPerGrant: DefaultMaxSessionsPerGrant,
		MaxCallsPerGrant:    DefaultMaxCallsPerGrant,
	}
}

// Load reads and parses the config file at path; see Parse. getenv looks up
// environment variables (os.LookupEnv when nil).
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	c, err := Parse(path, data, getenv)
	if err != nil {
		return nil, err
	}
	c.Path = path
	return c, nil
}

// Parse parses a config document, JSON or YAML (see source.Parse). name is
// the file name, used in positions and to resolve relative paths. getenv
// looks up the variables that ${VAR} refers to (os.LookupEnv when nil).
// When the document has problems, Parse returns a nil Config and a
// source.Errors listing every one of them, sorted by position.
func Parse(name string, data []byte, getenv func(string) (string, bool)) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	var d source.Decoder
	root, err := source.Parse(name, data)
	d.Add(err)
	if root == nil {
		return nil, d.Err()
	}
	r := &reader{d: &d, getenv: getenv, dir: filepath.Dir(name)}
	c := r.config(root)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// reader turns a document into a Config, recording problems in d.
type reader struct {
	d      *source.Decoder
	getenv func(string) (string, bool)
	dir    string // the config file's directory
}

// Defaults returns the config of an empty file: what every field a file
// leaves out means. Programs that build a config themselves start from it.
func Defaults() *Config {
	return &Config{
		Listen:         DefaultListen,
		State:          DefaultState,
		Auth:           Auth{Mode: "grants"},
		Admin:          Admin{Listen: DefaultAdminListen},
		Log:            Log{Format: "text", Level: "info"},
		Bounds:         DefaultBounds(),
		Audit:          Audit{Arguments: "keys", Retention: DefaultRetention},
		Approvals:      Approvals{Expire: DefaultApprovalExpire},
		Pin:            "warn",
		PostgresSchema: "public",
	}
}

func (r *reader) config(root *source.Node) *Config {
	c := Defaults()
	f := r.d.Fields(root, "listen", "state", "auth", "admin", "tls", "allowed_origins", "bounds", "rate_limits", "redis", "postgres", "postgres_schema", "log", "audit", "approvals", "tracing", "pin", "mcpServers")
	if f == nil {
		return c
	}
	if s, ok := r.str(f["listen"]); ok && r.addr(f["listen"], s) {
		c.Listen = s
	}
	if s, ok := r.str(f["state"]); ok {
		if s == "" {
			r.d.Errorf(f["state"].Pos, "state must not be empty")
		}
		c.State = s
	}
	c.State = r.resolve(c.State)
	if r.auth(f["auth"], &c.Auth) && c.Auth.Mode == "none" && !isLoopback(c.Listen) {
		r.d.Errorf(f["auth"].Pos, `auth "none" is accepted only on a loopback listen address (127.0.0.1, ::1 or localhost), not %q`, c.Listen)
	}
	if n := f["admin"]; n != nil {
		af := r.d.Fields(n, "listen", "tls")
		if s, ok := r.str(af["listen"]); ok && r.addr(af["listen"], s) {
			c.Admin.Listen = s
		}
		c.Admin.TLS = r.tls(af["tls"])
	}
	c.TLS = r.tls(f["tls"])
	for _, n := range r.d.Items(f["allowed_origins"]) {
		if s, ok := r.str(n); ok {
			if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
				r.d.Errorf(n.Pos, "allowed origin %q is not scheme://host[:port]", s)
				continue
			}
			c.AllowedOrigins = append(c.AllowedOrigins, strings.TrimSuffix(s, "/"))
		}
	}
	r.bounds(f["bounds"], &c.Bounds)
	if n := f["rate_limits"]; n != nil {
		rf := r.d.Fields(n, "fail_open")
		if v, ok := r.d.Bool(rf["fail_open"]); ok {
			c.RateLimits.FailOpen = v
		}
	}
	if s, ok := r.str(f["redis"]); ok {
		r.storeURL(f["redis"], s, "redis", "rediss", "unix")
		c.Redis = s
	}
	if s, ok := r.str(f["postgres"]); ok {
		// A key=value DSN ("host=db user=tg") is as valid as a URL.
		if strings.Contains(s, "://") || s == "" {
			r.storeURL(f["postgres"], s, "postgres", "postgresql")
		}
		c.Postgres = s
	}
	if s, ok := r.str(f["postgres_schema"]); ok {
		if !schemaName.MatchString(s) {
			r.d.Errorf(f["postgres_schema"].Pos, "postgres_schema %q: use 1 to 40 of a-z, 0-9 and _, not starting with a digit", s)
		}
		c.PostgresSchema = s
	}
	if n := f["log"]; n != nil {
		lf := r.d.Fields(n, "format", "level")
		if s, ok := r.oneOf(lf["format"], "text", "json"); ok {
			c.Log.Format = s
		}
		if s, ok := r.oneOf(lf["level"], "debug", "info", "warn", "error"); ok {
			c.Log.Level = s
		}
	}
	r.audit(f["audit"], &c.Audit)
	r.approvals(f["approvals"], &c.Approvals)
	if n := f["tracing"]; n != nil {
		tf := r.d.Fields(n, "endpoint", "service_name")
		if s, ok := r.str(tf["endpoint"]); ok {
			if s != "" {
				r.httpURL(tf["endpoint"], s)
			}
			c.Tracing.Endpoint = s
		}
		if s, ok := r.str(tf["service_name"]); ok {
			c.Tracing.ServiceName = s
		}
	}
	if s, ok := r.oneOf(f["pin"], "off", "warn", "strict"); ok {
		c.Pin = s
	}
	for _, m := range r.d.Members(f["mcpServers"]) {
		if s := r.server(m); s != nil {
			c.Servers = append(c.Servers, s)
		}
	}
	return c
}

// auth reads the auth field into a, and reports whether it could tell the
// mode (so that checks of the mode make sense).
func (r *reader) auth(n *source.Node, a *Auth) bool {
	switch {
	case n == nil:
		return true
	case n.Kind == source.String:
		s, ok := r.oneOf(n, "none", "grants", "oauth")
		if s == "oauth" {
			r.d.Errorf(n.Pos, `auth "oauth" needs its settings: {"oauth": {"issuer": …, "jwks_url": …, "audience": …}}`)
		}
		if ok {
			a.Mode = s
		}
		return ok
	case n.Kind == source.Object:
		a.Mode = "oauth"
		fields := r.d.Fields(n, "oauth")
		if !r.d.Require(n, fields, "oauth") {
			return true
		}
		o := fields["oauth"]
		f := r.d.Fields(o, "issuer", "jwks_url", "audience")
		r.d.Require(o, f, "issuer", "jwks_url", "audience")
		if s, ok := r.str(f["issuer"]); ok {
			r.httpURL(f["issuer"], s)
			a.Issuer = s
		}
		if s, ok := r.str(f["jwks_url"]); ok {
			r.httpURL(f["jwks_url"], s)
			a.JWKSURL = s
		}
		if s, ok := r.str(f["audience"]); ok {
			if s == "" {
				r.d.Errorf(f["audience"].Pos, "audience must not be empty")
			}
			a.Audience = s
		}
		return true
	}
	r.d.WrongKind(n, `"none", "grants" or an object {"oauth": {…}}`)
	return false
}

// schemaName is what a PostgreSQL schema may be called here.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// serverName is what a server may be called: a URL path segment that needs
// no escaping.
var serverName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// transports maps the accepted transport names, including the type values
// of MCP client configs, to Server.Transport.
var transports = map[string]string{
	"stdio":           "stdio",
	"streamable":      "streamable",
	"http":            "streamable",
	"streamable-http": "streamable",
	"sse":             "sse",
}

func (r *reader) server(m source.Field) *Server {
	if !serverName.MatchString(m.Key) {
		r.d.Errorf(m.KeyPos, "server name %q cannot be used in /mcp/NAME: use up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit", m.Key)
	}
	f := r.d.Fields(m.Value, "command", "args", "env", "cwd", "url", "headers", "transport", "type", "policy", "disabled", "trusted", "pin")
	if f == nil {
		return nil
	}
	s := &Server{Name: m.Key}
	if v, ok := r.str(f["command"]); ok {
		if strings.TrimSpace(v) == "" {
			r.d.Errorf(f["command"].Pos, "command must not be empty")
		}
		s.Command = v
	}
	if items := r.d.Items(f["args"]); items != nil {
		s.Args = make([]string, 0, len(items))
		for _, item := range items {
			if v, ok := r.str(item); ok {
				s.Args = append(s.Args, v)
			}
		}
	}
	s.Env = r.stringMap(f["env"], validEnvName)
	if v, ok := r.str(f["cwd"]); ok {
		s.Cwd = r.resolve(v)
	}
	if v, ok := r.str(f["url"]); ok {
		r.httpURL(f["url"], v)
		s.URL = v
	}
	s.Headers = r.stringMap(f["headers"], validHeaderName)
	for k, v := range s.Headers {
		if strings.ContainsAny(v, "\r\n\x00") {
			r.d.Errorf(f["headers"].Get(k).Pos, "header %s: value must be one line", k)
		}
	}

	// Exactly one of command and url, and only the fields that go with it.
	switch {
	case f["command"] == nil && f["url"] == nil:
		r.d.Errorf(m.Value.Pos, `server %s needs "command" (a stdio server) or "url" (a remote one)`, m.Key)
	case f["command"] != nil && f["url"] != nil:
		r.d.Errorf(f["url"].Pos, `server %s has both "command" and "url": give one`, m.Key)
	case f["url"] != nil:
		for _, k := range []string{"args", "env", "cwd"} {
			if n := f[k]; n != nil {
				r.d.Errorf(n.Pos, `%s applies only to stdio servers (with "command")`, k)
			}
		}
	default:
		if n := f["headers"]; n != nil {
			r.d.Errorf(n.Pos, `headers apply only to remote servers (with "url")`)
		}
	}

	tn := f["transport"]
	if tn != nil && f["type"] != nil {
		r.d.Errorf(f["type"].Pos, "type is an alias of transport: give only one")
	} else if tn == nil {
		tn = f["type"]
	}
	if v, ok := r.oneOf(tn, "stdio", "streamable", "http", "streamable-http", "sse"); ok {
		switch t := transports[v]; {
		case t == "stdio" && f["url"] != nil:
			r.d.Errorf(tn.Pos, `%s %q needs "command", not "url"`, source.Name(tn), v)
		case t != "stdio" && f["command"] != nil:
			r.d.Errorf(tn.Pos, `%s %q needs "url", not "command"`, source.Name(tn), v)
		default:
			s.Transport = t
		}
	}
	if v, ok := r.str(f["policy"]); ok {
		if v == "" {
			r.d.Errorf(f["policy"].Pos, "policy must not be empty: leave it out for a server without a policy")
		}
		s.Policy = r.resolve(v)
	}
	s.Disabled, _ = r.d.Bool(f["disabled"])
	s.Trusted, _ = r.d.Bool(f["trusted"])
	if v, ok := r.oneOf(f["pin"], "off", "warn", "strict"); ok {
		s.Pin = v
	}
	return s
}

// DefaultApprovalExpire is how long a pending approval may be decided.
const DefaultApprovalExpire = 24 * time.Hour

// audit reads {"arguments": "keys"|"values", "sync": BOOL, "retention": DURATION}.
func (r *reader) audit(n *source.Node, a *Audit) {
	if n == nil {
		return
	}
	f := r.d.Fields(n, "arguments", "sync", "retention")
	if s, ok := r.oneOf(f["arguments"], "keys", "values"); ok {
		a.Arguments = s
	}
	if v, ok := r.d.Bool(f["sync"]); ok {
		a.Sync = v
	}
	if d, ok := r.duration(f["retention"], true); ok {
		a.Retention = d
	}
}

// approvals reads {"public_url": URL, "expire": DURATION, "webhooks": [{"url", "format", "secret"}]}.
func (r *reader) approvals(n *source.Node, a *Approvals) {
	if n == nil {
		return
	}
	f := r.d.Fields(n, "public_url", "expire", "webhooks")
	if s, ok := r.str(f["public_url"]); ok {
		r.httpURL(f["public_url"], s)
		a.PublicURL = strings.TrimSuffix(s, "/")
	}
	if d, ok := r.duration(f["expire"], false); ok {
		a.Expire = d
	}
	for _, item := range r.d.Items(f["webhooks"]) {
		wf := r.d.Fields(item, "url", "format", "secret")
		if wf == nil || !r.d.Require(item, wf, "url") {
			continue
		}
		w := Webhook{Format: "json"}
		if s, ok := r.str(wf["url"]); ok {
			r.httpURL(wf["url"], s)
			w.URL = s
		}
		if s, ok := r.oneOf(wf["format"], "json", "slack"); ok {
			w.Format = s
		}
		if s, ok := r.str(wf["secret"]); ok {
			w.Secret = s
		}
		a.Webhooks = append(a.Webhooks, w)
	}
}

// duration reads a Go duration ("90s", "24h") or a number of days ("90d").
// Zero is accepted only where zeroOK (meaning "no limit").
func (r *reader) duration(n *source.Node, zeroOK bool) (time.Duration, bool) {
	s, ok := r.str(n)
	if !ok {
		return 0, false
	}
	var d time.Duration
	var err error
	if days, found := strings.CutSuffix(s, "d"); found && days != "" && strings.Trim(days, "0123456789") == "" {
		var k int64
		fmt.Sscan(days, &k)
		d = time.Duration(k) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	switch {
	case err != nil:
		r.d.Errorf(n.Pos, "%s: invalid duration %q: want a Go duration such as \"90s\" or \"24h\", or days such as \"90d\"", source.Name(n), s)
		return 0, false
	case d < 0 || (d == 0 && !zeroOK):
		r.d.Errorf(n.Pos, "%s must be positive", source.Name(n))
		return 0, false
	}
	return d, true
}

// resolve makes a relative path relative to the config file's directory.
// tls reads {"cert": FILE, "key": FILE}.
func (r *reader) tls(n *source.Node) *TLS {
	if n == nil {
		return nil
	}
	f := r.d.Fields(n, "cert", "key")
	if f == nil || !r.d.Require(n, f, "cert", "key") {
		return nil
	}
	cert, _ := r.str(f["cert"])
	key, _ := r.str(f["key"])
	return &TLS{Cert: r.resolve(cert), Key: r.resolve(key)}
}

// bounds reads the resource limits; every one must be positive.
func (r *reader) bounds(n *source.Node, b *Bounds) {
	if n == nil {
		return
	}
	f := r.d.Fields(n, "max_body_bytes", "max_depth", "max_argument_bytes", "max_sessions_per_grant", "max_calls_per_grant")
	positive := func(name string) (int64, bool) {
		v, ok := r.d.Int(f[name])
		if ok && v <= 0 {
			r.d.Errorf(f[name].Pos, "%s must be positive", name)
			return 0, false
		}
		return v, ok
	}
	if v, ok := positive("max_body_bytes"); ok {
		b.MaxBodyBytes = v
	}
	if v, ok := positive("max_depth"); ok {
		b.MaxDepth = int(v)
	}
	if v, ok := positive("max_argument_bytes"); ok {
		b.MaxArgumentBytes = v
	}
	if v, ok := positive("max_sessions_per_grant"); ok {
		b.MaxSessionsPerGrant = int(v)
	}
	if v, ok := positive("max_calls_per_grant"); ok {
		b.MaxCallsPerGrant = int(v)
	}
}

func (r *reader) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.dir, p)
}

// str reads a string value and expands its variables.
func (r *reader) str(n *source.Node) (string, bool) {
	s, ok := r.d.String(n)
	if !ok {
		return "", false
	}
	return r.expand(n, s)
}

// oneOf reads a string value that must be one of allowed.
func (r *reader) oneOf(n *source.Node, allowed ...string) (string, bool) {
	s, ok := r.str(n)
	if !ok || !r.d.Check(n, s, allowed...) {
		return "", false
	}
	return s, true
}

// stringMap reads an object of strings whose keys valid accepts.
func (r *reader) stringMap(n *source.Node, valid func(string) bool) map[string]string {
	fields := r.d.Members(n)
	if n == nil || n.Kind != source.Object {
		return nil
	}
	out := make(map[string]string, len(fields))
	for _, f := range fields {
		if !valid(f.Key) {
			r.d.Errorf(f.KeyPos, "%s: invalid name %q", source.Name(n), f.Key)
		}
		if v, ok := r.str(f.Value); ok {
			out[f.Key] = v
		}
	}
	return out
}

func validEnvName(k string) bool {
	return k != "" && !strings.ContainsAny(k, "=\x00")
}

// validHeaderName accepts the token characters of RFC 9110.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// addr checks a host:port listen address.
func (r *reader) addr(n *source.Node, s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err == nil {
		err = checkPort(port)
	}
	if err == nil && strings.ContainsAny(host, " /") {
		err = fmt.Errorf("invalid host %q", host)
	}
	if err != nil {
		r.d.Errorf(n.Pos, "%s: invalid address %q: want host:port, such as 127.0.0.1:8080 (%v)", source.Name(n), s, err)
		return false
	}
	return true
}

func checkPort(port string) error {
	if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("invalid port %q", port)
	}
	var p int
	fmt.Sscan(port, &p)
	if p > 65535 {
		return fmt.Errorf("port %s out of range", port)
	}
	return nil
}

// isLoopback reports whether a listen address accepts only local
// connections.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// httpURL checks an absolute http or https URL.
func (r *reader) httpURL(n *source.Node, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not repeated: it may hold a credential.
		r.d.Errorf(n.Pos, "%s: want an absolute http or https URL", source.Name(n))
	}
}

// storeURL checks the URL of a shared store.
func (r *reader) storeURL(n *source.Node, s string, schemes ...string) {
	u, err := url.Parse(s)
	if err == nil {
		for _, scheme := range schemes {
			if u.Scheme == scheme {
				return
			}
		}
	}
	r.d.Errorf(n.Pos, "%s: want a URL with scheme %s", source.Name(n), strings.Join(schemes, ", "))
}
