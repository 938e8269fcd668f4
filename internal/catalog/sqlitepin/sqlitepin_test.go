package sqlitepin_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/catalog/pintest"
	"github.com/toolgate/toolgate/internal/catalog/sqlitepin"
	"github.com/toolgate/toolgate/internal/proctest"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func open(t testing.TB, dir string) *sqlitepin.Store {
	t.Helper()
	s, err := sqlitepin.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	return s
}

func TestContract(t *testing.T) {
	pintest.Run(t, func(t *testing.T) pintest.Opener {
		dir := t.TempDir()
		return func(t *testing.T) catalog.PinStore { return open(t, dir) }
	})
}

// TestNewerSchema checks that a database made by a newer toolgate is
// refused, not changed.
func TestNewerSchema(t *testing.T) {
	dir := t.TempDir()
	open(t, dir).Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlitepin.File))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := sqlitepin.Open(context.Background(), dir, nil); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a newer database = %v; want an error saying it is newer", err)
	}
}

// TestPrivate checks that the database is readable by its owner only: it
// holds what the upstream servers told the gateway.
func TestPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	open(t, dir).Close()
	for _, name := range []string{dir, filepath.Join(dir, sqlitepin.File)} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for group and others", name, perm)
		}
	}
}

// helperEnv makes the test binary act as another process using the store:
// a second gateway, or the CLI next to a running gateway.
const helperEnv = "SQLITEPIN_TEST_HELPER_DIR"

func tool(name, desc string) *mcp.Tool {
	return &mcp.Tool{Name: name, Description: desc, InputSchema: map[string]any{"type": "object"}}
}

// TestHelperProcess is the other process. It opens the store in the
// directory named by helperEnv and runs commands from stdin, one per line,
// answering each with one line: "observe N DESC" observes the tools tool_0
// to tool_N-1 with description DESC and prints "ok"; "accept TOOL DESC BY"
// accepts the change to DESC and prints the pin's status; end of input
// closes the store.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("run by TestProcesses")
	}
	ctx := context.Background()
	s, err := sqlitepin.Open(ctx, dir, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 3 && f[0] == "observe":
			var n int
			fmt.Sscan(f[1], &n)
			for i := range n {
				tl := tool(fmt.Sprintf("tool_%d", i), f[2])
				if _, err = s.Observe(ctx, "okta", tl, catalog.Digest(tl), t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
					break
				}
			}
			if err != nil {
				fmt.Println("error", err)
				continue
			}
			fmt.Println("ok")
		case len(f) == 4 && f[0] == "accept":
			p, err := s.Accept(ctx, "okta", f[1], catalog.Digest(tool(f[1], f[2])), f[3], t0.Add(time.Hour))
			if err != nil {
				fmt.Println("error", err)
				continue
			}
			fmt.Println(p.Status)
		default:
			fmt.Println("error unknown command", f)
		}
	}
	if err := s.Close(); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestProcesses checks that stores in several processes record each tool
// once, see each other's changes, and that a change accepted in one process
// (the CLI) is the pin in another (the gateway).
func TestProcesses(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	helpers := []*proctest.Process{proctest.Start(t, helperEnv, dir), proctest.Start(t, helperEnv, dir)}
	const n = 50

	// Every process observes v1 then v2 of every tool, at once.
	var wg sync.WaitGroup
	for _, h := range helpers {
		wg.Go(func() {
			for _, desc := range []string{"v1", "v2"} {
				if _, err := h.Ask(fmt.Sprintf("observe %d %s", n, desc)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for _, desc := range []string{"v1", "v2"} {
		for i := range n {
			tl := tool(fmt.Sprintf("tool_%d", i), desc)
			if _, err := s.Observe(ctx, "okta", tl, catalog.Digest(tl), t0.Add(time.Second)); err != nil {
				t.Errorf("Observe = %v", err)
			}
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ps, err := s.List(ctx, "okta")
	if err != nil || len(ps) != n {
		t.Fatalf("List = %d pins, %v; want %d", len(ps), err, n)
	}
	for _, p := range ps {
		if p.Digest != catalog.Digest(tool(p.Tool, "v1")) || p.Pending == nil || p.Pending.Digest != catalog.Digest(tool(p.Tool, "v2")) {
			t.Fatalf("%s: %+v; want v1 pinned, v2 pending", p.Tool, p)
		}
	}

	// The CLI accepts; the gateway sees it at once.
	if reply, err := helpers[0].Ask("accept tool_7 v2 alice"); err != nil || reply != catalog.StatusPinned {
		t.Fatalf("accept in another process = %q, %v", reply, err)
	}
	tl := tool("tool_7", "v2")
	p, err := s.Observe(ctx, "okta", tl, catalog.Digest(tl), t0.Add(2*time.Hour))
	if err != nil || p.Status != catalog.StatusPinned || p.AcceptedBy != "alice" {
		t.Fatalf("Observe after an Accept in another process = %+v, %v; want v2 pinned, accepted by alice", p, err)
	}
	if _, err := helpers[1].Ask("accept tool_7 v2 bob"); err == nil || !strings.Contains(err.Error(), catalog.ErrNotPending.Error()) {
		t.Fatalf("second accept in another process = %v; want %q", err, catalog.ErrNotPending)
	}
	for _, h := range helpers {
		if err := h.Stop(); err != nil {
			t.Errorf("the other process: %v", err)
		}
	}
	if _, err := s.Accept(ctx, "okta", "tool_8", catalog.Digest(tool("tool_8", "v2")), "carol", t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("Accept after the other processes closed = %v", err)
	}
	if _, err := s.Accept(ctx, "okta", "tool_8", catalog.Digest(tool("tool_8", "v2")), "carol", t0.Add(3*time.Hour)); !errors.Is(err, catalog.ErrNotPending) {
		t.Fatalf("second Accept = %v; want ErrNotPending", err)
	}
}
