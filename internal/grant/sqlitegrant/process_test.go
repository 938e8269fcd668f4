package sqlitegrant_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/grant"
	"github.com/toolgate/toolgate/internal/grant/sqlitegrant"
	"github.com/toolgate/toolgate/internal/proctest"
)

// helperEnv makes the test binary act as a second process using the store:
// the CLI next to a running gateway.
const helperEnv = "SQLITEGRANT_TEST_HELPER_DIR"

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// TestHelperProcess is the other process. It opens the store in the
// directory named by helperEnv and runs commands from stdin, one per line:
// "create LABEL" prints the grant's ID and token, "revoke ID-OR-LABEL"
// prints "ok"; end of input closes the store.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("run by TestOtherProcess")
	}
	ctx := context.Background()
	s, err := sqlitegrant.Open(ctx, dir, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "create":
			g, token, err := grant.New(arg, "okta", t0)
			if err == nil {
				err = s.Create(ctx, g, grant.Hash(token))
			}
			if err != nil {
				fmt.Println("error", err)
				continue
			}
			fmt.Println(g.ID, token)
		case "revoke":
			if _, err := s.Revoke(ctx, arg, t0.Add(time.Hour)); err != nil {
				fmt.Println("error", err)
				continue
			}
			fmt.Println("ok")
		}
	}
	if err := s.Close(); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestOtherProcess checks that grants created and revoked by another
// process, which keeps the database open, reach this one's next Lookup.
func TestOtherProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir, nil)
	defer s.Close()
	// Lookups run all along, so the index is as fresh as can be when the
	// other process writes.
	stop := make(chan struct{})
	looked := make(chan error)
	go func() {
		h := grant.Hash("tg_nobody")
		for {
			select {
			case <-stop:
				looked <- nil
				return
			default:
			}
			if _, err := s.Lookup(ctx, h); !errors.Is(err, grant.ErrNotFound) {
				looked <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		if err := <-looked; err != nil {
			t.Errorf("background Lookup = %v", err)
		}
	}()

	other := proctest.Start(t, helperEnv, dir)
	ask := func(line string) string {
		t.Helper()
		reply, err := other.Ask(line)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	for i := range 20 {
		id, token, _ := strings.Cut(ask(fmt.Sprintf("create agent-%d", i)), " ")
		g, err := grant.Authenticate(ctx, s, token, t0)
		if err != nil || g.ID != id {
			t.Fatalf("round %d: Authenticate after a Create in another process = %v, %v; want %s", i, g, err, id)
		}
		ask("revoke " + id)
		if _, err := grant.Authenticate(ctx, s, token, t0); !errors.Is(err, grant.ErrRevoked) {
			t.Fatalf("round %d: Authenticate after a Revoke in another process = %v; want ErrRevoked", i, err)
		}
	}
	// The other way round, and after the other process closed its store.
	g, token, _ := grant.New("here", "okta", t0)
	if err := s.Create(ctx, g, grant.Hash(token)); err != nil {
		t.Fatal(err)
	}
	if reply := ask("revoke here"); reply != "ok" {
		t.Fatalf("revoke here: %s", reply)
	}
	if err := other.Stop(); err != nil {
		t.Fatalf("the other process: %v", err)
	}
	if _, err := grant.Authenticate(ctx, s, token, t0); !errors.Is(err, grant.ErrRevoked) {
		t.Fatalf("Authenticate after a Revoke in another process = %v; want ErrRevoked", err)
	}
}
