package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// ServerEntry is one MCP server of an MCP client's configuration, as the
// client wrote it: values are kept as written, including references such
// as VS Code's ${env:NAME} or ${input:ID}, and secrets.
type ServerEntry struct {
	// Command, Args, Env, Cwd and EnvFile start a stdio server.
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Cwd     string            `json:"cwd,omitempty"`
	// EnvFile is VS Code's file of environment variables for the server,
	// which the gateway does not read: whoever imports the entry must say
	// so.
	EnvFile string `json:"envFile,omitempty"`
	// URL and Headers reach a remote server.
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Transport is "stdio", "streamable" or "sse" when the client's entry
	// names one (its type), and "" when it leaves it to the client.
	Transport string `json:"transport,omitempty"`
	// Disabled is set for a server the client has turned off.
	Disabled bool `json:"disabled,omitempty"`
}

// transportNames maps the transport names of MCP clients' configurations
// to ServerEntry.Transport.
var transportNames = map[string]string{
	"stdio":           "stdio",
	"http":            "streamable",
	"streamable":      "streamable",
	"streamable-http": "streamable",
	"streamablehttp":  "streamable",
	"sse":             "sse",
}

// ParseClientConfig reads the MCP servers of an MCP client's configuration
// file, keyed by the names the client gives them. It accepts the shapes
// clients use:
//
//   - {"mcpServers": {NAME: ENTRY}}: Claude Desktop, Claude Code, Cursor,
//     Windsurf, Cline;
//   - {"servers": {NAME: ENTRY}}: VS Code's .vscode/mcp.json, and
//     {"mcp": {"servers": …}} in its settings.json;
//
// where ENTRY has command, args, env, cwd and envFile (a stdio server) or
// url (serverUrl for Windsurf) and headers (a remote one), and optionally
// type (transport, transportType) and disabled. Comments and trailing
// commas (JSON with comments, as VS Code writes) are allowed. Fields of
// other meaning (autoApprove, timeout, …) are ignored.
//
// It fails, listing every problem, when the file is not such a document,
// names no server, or an entry has neither or both of command and url, a
// field of the wrong type, or a transport that does not fit.
func ParseClientConfig(data []byte) (map[string]ServerEntry, error) {
	data = stripJSONC(data)
	var doc struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
		Servers    map[string]json.RawMessage `json:"servers"`
		MCP        struct {
			Servers map[string]json.RawMessage `json:"servers"`
		} `json:"mcp"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("client config: %w", positioned(data, err))
	}
	out := map[string]ServerEntry{}
	var errs []error
	for _, servers := range []map[string]json.RawMessage{doc.MCPServers, doc.Servers, doc.MCP.Servers} {
		for _, name := range sortedNames(servers) {
			if _, dup := out[name]; dup {
				errs = append(errs, fmt.Errorf("server %q is configured twice", name))
				continue
			}
			e, err := parseEntry(servers[name])
			if err != nil {
				errs = append(errs, fmt.Errorf("server %q: %w", name, err))
				continue
			}
			out[name] = e
		}
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New(`no MCP servers: want "mcpServers" or "servers"`))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("client config: %w", errors.Join(errs...))
	}
	return out, nil
}

func sortedNames(m map[string]json.RawMessage) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func parseEntry(raw json.RawMessage) (ServerEntry, error) {
	var f struct {
		Command       *string           `json:"command"`
		Args          []string          `json:"args"`
		Env           map[string]string `json:"env"`
		Cwd           string            `json:"cwd"`
		EnvFile       string            `json:"envFile"`
		URL           *string           `json:"url"`
		ServerURL     *string           `json:"serverUrl"`
		Headers       map[string]string `json:"headers"`
		Type          string            `json:"type"`
		Transport     string            `json:"transport"`
		TransportType string            `json:"transportType"`
		Disabled      bool              `json:"disabled"`
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return ServerEntry{}, errors.New("null, not an object")
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return ServerEntry{}, fmt.Errorf("%s: want %s, have a JSON %s", te.Field, kindOf(te.Type), te.Value)
		}
		if errors.As(err, &te) {
			return ServerEntry{}, fmt.Errorf("want an object, have a JSON %s", te.Value)
		}
		return ServerEntry{}, err
	}
	e := ServerEntry{Args: f.Args, Env: f.Env, Cwd: f.Cwd, EnvFile: f.EnvFile, Headers: f.Headers, Disabled: f.Disabled}
	if f.URL != nil && f.ServerURL != nil {
		return ServerEntry{}, errors.New("both url and serverUrl: give one")
	}
	if f.URL == nil {
		f.URL = f.ServerURL
	}
	switch {
	case f.Command == nil && f.URL == nil:
		return ServerEntry{}, errors.New(`neither "command" (a stdio server) nor "url" (a remote one)`)
	case f.Command != nil && f.URL != nil:
		return ServerEntry{}, errors.New(`both "command" and "url": give one`)
	case f.Command != nil:
		if strings.TrimSpace(*f.Command) == "" {
			return ServerEntry{}, errors.New("empty command")
		}
		if f.Headers != nil {
			return ServerEntry{}, errors.New(`headers apply only to remote servers (with "url")`)
		}
		e.Command = *f.Command
	default:
		if f.Args != nil || f.Env != nil || f.Cwd != "" || f.EnvFile != "" {
			return ServerEntry{}, errors.New(`args, env, cwd and envFile apply only to stdio servers (with "command")`)
		}
		if *f.URL == "" {
			return ServerEntry{}, errors.New("empty url")
		}
		e.URL = *f.URL
	}
	var given []string
	for _, t := range []string{f.Type, f.Transport, f.TransportType} {
		if t != "" && !slices.Contains(given, t) {
			given = append(given, t)
		}
	}
	switch len(given) {
	case 0:
		return e, nil
	case 1:
	default:
		return ServerEntry{}, fmt.Errorf("transports %q disagree", given)
	}
	t, ok := transportNames[strings.ToLower(given[0])]
	switch {
	case !ok:
		return ServerEntry{}, fmt.Errorf("unknown transport %q (want stdio, http, streamable-http or sse)", given[0])
	case t == "stdio" && e.Command == "":
		return ServerEntry{}, fmt.Errorf(`transport %q needs "command", not "url"`, given[0])
	case t != "stdio" && e.Command != "":
		return ServerEntry{}, fmt.Errorf(`transport %q needs "url", not "command"`, given[0])
	}
	e.Transport = t
	return e, nil
}

// positioned adds the line and column to a JSON syntax error.
func positioned(data []byte, err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: want %s, have a JSON %s", cmpOrStr(te.Field, "the document"), kindOf(te.Type), te.Value)
		}
		return err
	}
	// Offset counts the bytes read, the offending one included.
	off := max(0, min(int(se.Offset)-1, len(data)))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

// kindOf names the JSON a Go type decodes.
func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "an array of strings"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "an object of strings"
		}
	}
	return "an object"
}

func cmpOrStr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// stripJSONC turns JSON with comments into JSON: it replaces comments with
// spaces (keeping newlines, so that positions still hold) and removes the
// commas that end an object or an array. Strings are left alone. The
// result has the input's length or less.
func stripJSONC(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '"':
			// A string, escapes included.
			j := i + 1
			for j < len(data) && data[j] != '"' {
				if data[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j, len(data)-1)
			out = append(out, data[i:j+1]...)
			i = j
		case c == '/' && i+1 < len(data) && data[i+1] == '/':
			for i < len(data) && data[i] != '\n' {
				out = append(out, ' ')
				i++
			}
			if i < len(data) {
				out = append(out, '\n')
			}
		case c == '/' && i+1 < len(data) && data[i+1] == '*':
			end := bytes.Index(data[i+2:], []byte("*/"))
			stop := len(data)
			if end >= 0 {
				stop = i + 2 + end + 2
			}
			for ; i < stop; i++ {
				if data[i] == '\n' {
					out = append(out, '\n')
				} else {
					out = append(out, ' ')
				}
			}
			i--
		case c == ',':
			// A trailing comma: only space and comments before } or ].
			j := i + 1
			for j < len(data) {
				switch {
				case data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r':
					j++
					continue
				case data[j] == '/' && j+1 < len(data) && data[j+1] == '/':
					for j < len(data) && data[j] != '\n' {
						j++
					}
					continue
				case data[j] == '/' && j+1 < len(data) && data[j+1] == '*':
					if end := bytes.Index(data[j+2:], []byte("*/")); end >= 0 {
						j += 2 + end + 2
						continue
					}
					j = len(data)
					continue
				}
				break
			}
			if j < len(data) && (data[j] == '}' || data[j] == ']') {
				out = append(out, ' ')
			} else {
				out = append(out, c)
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// DefaultGatewayURL is where agents reach the gateway by default (DESIGN.md
// §8).
const DefaultGatewayURL = "http://127.0.0.1:8080"

// ClientSnippet returns the MCP client configuration that sends a client to
// servers through the gateway at gatewayURL ("" means DefaultGatewayURL):
//
//	{"mcpServers": {"okta": {"url": "http://127.0.0.1:8080/mcp/okta",
//	  "headers": {"Authorization": "Bearer TOKEN"}}}}
//
// with one entry per server, each at /mcp/NAME (escaped as a path
// segment), and the Authorization header only when token is not "" (a
// gateway without grants). It is indented JSON, keys sorted, ending in a
// newline.
func ClientSnippet(gatewayURL string, servers []string, token string) []byte {
	if gatewayURL == "" {
		gatewayURL = DefaultGatewayURL
	}
	base := strings.TrimRight(gatewayURL, "/")
	type entry struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers,omitempty"`
	}
	doc := struct {
		MCPServers map[string]entry `json:"mcpServers"`
	}{MCPServers: map[string]entry{}}
	for _, name := range servers {
		e := entry{URL: base + "/mcp/" + url.PathEscape(name)}
		if token != "" {
			e.Headers = map[string]string{"Authorization": "Bearer " + token}
		}
		doc.MCPServers[name] = e
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(doc) // strings and maps of strings: cannot fail
	return b.Bytes()
}
