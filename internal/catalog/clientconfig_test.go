package catalog_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/catalog"
)

func TestParseClientConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		doc  string
		want map[string]catalog.ServerEntry
	}{
		{"Claude Desktop", `{
  "mcpServers": {
    "okta": {"command": "node", "args": ["okta/dist/index.js"], "env": {"OKTA_ORG_URL": "https://dev.okta.com", "OKTA_API_TOKEN": "00abc"}},
    "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]}
  },
  "globalShortcut": "Ctrl+Space"
}`, map[string]catalog.ServerEntry{
			"okta":       {Command: "node", Args: []string{"okta/dist/index.js"}, Env: map[string]string{"OKTA_ORG_URL": "https://dev.okta.com", "OKTA_API_TOKEN": "00abc"}},
			"filesystem": {Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"}},
		}},
		{"Cursor remote", `{"mcpServers": {"docs": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}}}`,
			map[string]catalog.ServerEntry{"docs": {URL: "https://example.com/mcp", Headers: map[string]string{"Authorization": "Bearer ${DOCS_TOKEN}"}}}},
		{"Claude Code types", `{"mcpServers": {
			"a": {"type": "stdio", "command": "a"},
			"b": {"type": "http", "url": "https://b.example/mcp"},
			"c": {"type": "sse", "url": "https://c.example/sse"}}}`,
			map[string]catalog.ServerEntry{
				"a": {Command: "a", Transport: "stdio"},
				"b": {URL: "https://b.example/mcp", Transport: "streamable"},
				"c": {URL: "https://c.example/sse", Transport: "sse"},
			}},
		{"VS Code mcp.json with comments", `{
  // Servers for this workspace.
  "inputs": [{"type": "promptString", "id": "token", "password": true}],
  "servers": {
    "github": {
      "type": "http", /* remote */
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": {"Authorization": "Bearer ${input:token}"},
    },
    "local": {"type": "stdio", "command": "python", "args": ["server.py",], "envFile": "${workspaceFolder}/.env", "cwd": "${workspaceFolder}"},
  },
}`, map[string]catalog.ServerEntry{
			"github": {URL: "https://api.githubcopilot.com/mcp/", Headers: map[string]string{"Authorization": "Bearer ${input:token}"}, Transport: "streamable"},
			"local":  {Command: "python", Args: []string{"server.py"}, EnvFile: "${workspaceFolder}/.env", Cwd: "${workspaceFolder}", Transport: "stdio"},
		}},
		{"VS Code settings.json", `{"editor.fontSize": 14, "mcp": {"servers": {"x": {"command": "x", "env": {"A": "${env:A}"}}}}}`,
			map[string]catalog.ServerEntry{"x": {Command: "x", Env: map[string]string{"A": "${env:A}"}}}},
		{"Windsurf serverUrl", `{"mcpServers": {"w": {"serverUrl": "https://w.example/mcp"}}}`,
			map[string]catalog.ServerEntry{"w": {URL: "https://w.example/mcp"}}},
		{"Cline", `{"mcpServers": {"c": {"transportType": "streamableHttp", "url": "https://c.example/mcp", "disabled": true, "autoApprove": ["x"], "timeout": 60}}}`,
			map[string]catalog.ServerEntry{"c": {URL: "https://c.example/mcp", Transport: "streamable", Disabled: true}}},
		{"comment-like text in strings", `{"mcpServers": {"s": {"command": "run", "args": ["http://x//y", "/* no */", "a,]"]}}}`,
			map[string]catalog.ServerEntry{"s": {Command: "run", Args: []string{"http://x//y", "/* no */", "a,]"}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := catalog.ParseClientConfig([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParseClientConfig = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseClientConfig =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseClientConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		want      []string // every problem is reported
	}{
		{"not JSON", "{\n  \"mcpServers\": {\n    \"a\": {command: 1}\n  }\n}", []string{"line 3, column 11"}},
		{"not an object", `[]`, []string{"the document"}},
		{"no servers", `{"globalShortcut": ""}`, []string{"no MCP servers"}},
		{"servers not an object", `{"mcpServers": []}`, []string{"mcpServers: want an object"}},
		{"neither", `{"mcpServers": {"a": {"args": ["x"]}}}`, []string{`server "a": neither "command"`}},
		{"both", `{"mcpServers": {"a": {"command": "x", "url": "https://a"}}}`, []string{`server "a": both "command" and "url"`}},
		{"every problem", `{"mcpServers": {"a": {}, "b": {"command": ""}, "c": "x", "d": null, "e": {"command": "x", "args": "y"}, "ok": {"command": "x"}}}`,
			[]string{`server "a"`, `server "b": empty command`, `server "c": want an object, have a JSON string`, `server "d": null`, `server "e": args: want an array of strings`}},
		{"env values", `{"mcpServers": {"a": {"command": "x", "env": {"N": 1}}}}`, []string{`server "a": env`}},
		{"headers on stdio", `{"mcpServers": {"a": {"command": "x", "headers": {"A": "b"}}}}`, []string{"headers apply only to remote servers"}},
		{"args on remote", `{"mcpServers": {"a": {"url": "https://a", "args": ["x"]}}}`, []string{"apply only to stdio servers"}},
		{"unknown transport", `{"mcpServers": {"a": {"type": "websocket", "url": "wss://a"}}}`, []string{`unknown transport "websocket"`}},
		{"stdio with url", `{"servers": {"a": {"type": "stdio", "url": "https://a"}}}`, []string{`needs "command"`}},
		{"http with command", `{"servers": {"a": {"type": "http", "command": "x"}}}`, []string{`needs "url"`}},
		{"transports disagree", `{"mcpServers": {"a": {"type": "sse", "transport": "http", "url": "https://a"}}}`, []string{"disagree"}},
		{"twice", `{"mcpServers": {"a": {"command": "x"}}, "servers": {"a": {"command": "y"}}}`, []string{`server "a" is configured twice`}},
		{"url twice", `{"mcpServers": {"a": {"url": "https://a", "serverUrl": "https://b"}}}`, []string{"both url and serverUrl"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := catalog.ParseClientConfig([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseClientConfig = %+v; want an error", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseClientConfig = %v; want an error saying %q", err, w)
				}
			}
		})
	}
}

func TestClientSnippet(t *testing.T) {
	got := string(catalog.ClientSnippet("http://127.0.0.1:8080/", []string{"okta", "docs"}, "tg_secret"))
	want := `{
  "mcpServers": {
    "docs": {
      "url": "http://127.0.0.1:8080/mcp/docs",
      "headers": {
        "Authorization": "Bearer tg_secret"
      }
    },
    "okta": {
      "url": "http://127.0.0.1:8080/mcp/okta",
      "headers": {
        "Authorization": "Bearer tg_secret"
      }
    }
  }
}
`
	if got != want {
		t.Errorf("ClientSnippet =\n%s\nwant\n%s", got, want)
	}

	// Without a token, no header; the default address; names escaped.
	got = string(catalog.ClientSnippet("", []string{"a b"}, ""))
	want = `{
  "mcpServers": {
    "a b": {
      "url": "http://127.0.0.1:8080/mcp/a%20b"
    }
  }
}
`
	if got != want {
		t.Errorf("ClientSnippet without a token =\n%s\nwant\n%s", got, want)
	}
}

// TestClientSnippetRoundTrip checks that a client config written by
// ClientSnippet reads back as remote servers at the gateway.
func TestClientSnippetRoundTrip(t *testing.T) {
	entries, err := catalog.ParseClientConfig(catalog.ClientSnippet("https://gw.example", []string{"okta"}, "tg_x"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]catalog.ServerEntry{"okta": {URL: "https://gw.example/mcp/okta", Headers: map[string]string{"Authorization": "Bearer tg_x"}}}
	if !reflect.DeepEqual(entries, want) {
		t.Errorf("ParseClientConfig(ClientSnippet(…)) = %+v; want %+v", entries, want)
	}
}

// FuzzParseClientConfig checks that no input makes the parser panic, that
// what it accepts is consistent, and that JSON without comments reads the
// same with the comment stripping as without.
func FuzzParseClientConfig(f *testing.F) {
	f.Add(`{"mcpServers": {"a": {"command": "x", "args": ["//"]}}}`)
	f.Add("{\"servers\": {\"a\": {\"url\": \"u\", /* c */ \"type\": \"sse\",},}, // end\n}")
	f.Add(`{"mcpServers": {"a": {"url": "\"/*"}}}`)
	f.Add(`{"mcp": {"servers": {"a": {"command": "\\", "env": {"A": "/**/"}}}}}`)
	f.Add(`"unterminated`)
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := catalog.ParseClientConfig([]byte(doc))
		if err != nil {
			return
		}
		for name, e := range got {
			if (e.Command == "") == (e.URL == "") {
				t.Fatalf("server %q: %+v has neither or both of command and url", name, e)
			}
		}
		// Valid JSON decodes to the same entries by encoding/json alone.
		if !json.Valid([]byte(doc)) {
			return
		}
		var plain struct {
			MCPServers map[string]struct {
				Command string `json:"command"`
			} `json:"mcpServers"`
		}
		if json.Unmarshal([]byte(doc), &plain) != nil {
			return
		}
		for name, s := range plain.MCPServers {
			if e, ok := got[name]; ok && e.Command != s.Command {
				t.Fatalf("server %q: command %q; encoding/json reads %q", name, e.Command, s.Command)
			}
		}
	})
}
