package sqliteapproval_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/approval/sqliteapproval"
	"github.com/toolgate/toolgate/internal/proctest"
)

// helperEnv makes the test binary act as a second process using the store:
// the CLI next to a running gateway.
const helperEnv = "SQLITEAPPROVAL_TEST_HELPER_DIR"

var (
	t0  = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	key = approval.Key{GrantID: "grt_aaaaaaaaaaaaaaaa", Server: "okta", Tool: "provision_applications", Digest: "sha256:0f1e2d"}
)

// TestHelperProcess is the other process. It opens the store in the
// directory named by helperEnv and runs commands from stdin, one per line:
// "approve ID" approves approval ID as alice and prints "ok"; "create"
// creates an approval for key and prints its ID; "consume" consumes
// approvals for key, once it prints "ready" and reads a line, until there
// is none left, and prints their IDs on one line. End of input closes the store.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("run by TestOtherProcess")
	}
	ctx := context.Background()
	s, err := sqliteapproval.Open(ctx, dir, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "approve":
			_, err := s.Decide(ctx, arg, approval.Decision{Approve: true, By: "alice", Reason: "from the CLI", Via: approval.ViaCLI, At: t0.Add(time.Minute)})
			if err != nil {
				fmt.Println("error", err)
				continue
			}
			fmt.Println("ok")
		case "create":
			a := approval.New(key, t0.Add(time.Second), t0.Add(time.Hour))
			if err := s.Create(ctx, a); err != nil {
				fmt.Println("error", err)
				continue
			}
			fmt.Println(a.ID)
		case "consume":
			// Ready, then go at the other process's word, so that both
			// consume at once.
			fmt.Println("ready")
			if !in.Scan() {
				os.Exit(1)
			}
			var ids []string
			for {
				a, err := s.Consume(ctx, key, t0.Add(2*time.Minute))
				if errors.Is(err, approval.ErrNotFound) {
					break
				}
				if err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				ids = append(ids, a.ID)
			}
			fmt.Println("ids", strings.Join(ids, " "))
		}
	}
	if err := s.Close(); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// other is the other process, failing the test when it does.
type other struct {
	t *testing.T
	p *proctest.Process
}

func startOther(t *testing.T, dir string) *other {
	t.Helper()
	return &other{t: t, p: proctest.Start(t, helperEnv, dir)}
}

func (o *other) send(line string) { o.p.Send(line) }

func (o *other) reply(line string) string {
	o.t.Helper()
	r, err := o.p.Reply(line)
	if err != nil {
		o.t.Fatal(err)
	}
	return r
}

func (o *other) ask(line string) string {
	o.t.Helper()
	o.send(line)
	return o.reply(line)
}

func (o *other) stop() {
	o.t.Helper()
	if err := o.p.Stop(); err != nil {
		o.t.Errorf("the other process: %v", err)
	}
}

// TestOtherProcess checks, with a second process on the same database as
// the CLI would be, that a call held by a Hub wakes when the other process
// approves it; that approvals it creates are seen here; and that an
// approval is consumed once when both processes consume at once.
func TestOtherProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	o := startOther(t, dir)
	defer o.stop()

	// A short poll: the decision comes from elsewhere, so only polling
	// notices it.
	hub := approval.NewHub(s, &approval.HubOptions{Poll: 5 * time.Millisecond, Now: func() time.Time { return t0.Add(time.Minute) }})
	defer hub.Close()
	a := approval.New(key, t0, t0.Add(time.Hour))
	if err := hub.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	type result struct {
		a   *approval.Approval
		err error
	}
	waited := make(chan result, 1)
	go func() {
		a, err := hub.Wait(ctx, a.ID)
		waited <- result{a, err}
	}()
	o.ask("approve " + a.ID)
	r := <-waited
	if r.err != nil || r.a.Status != approval.Approved || r.a.DecidedBy != "alice" || r.a.Via != approval.ViaCLI {
		t.Fatalf("Wait while the other process approves = %+v, %v; want approved by alice via cli", r.a, r.err)
	}
	if got, err := s.Consume(ctx, key, t0.Add(2*time.Minute)); err != nil || got.ID != a.ID {
		t.Fatalf("Consume of the approval the other process approved = %+v, %v", got, err)
	}

	id := o.ask("create")
	if got, err := s.FindPending(ctx, key, t0.Add(2*time.Minute)); err != nil || got.ID != id {
		t.Fatalf("FindPending of the other process's approval = %+v, %v; want %s", got, err, id)
	}
	if _, err := s.Decide(ctx, id, approval.Decision{By: "bob", Via: approval.ViaAPI, At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}

	// Both processes consume the same approvals at once.
	const n = 100
	want := make(map[string]bool)
	for i := range n {
		a := approval.New(key, t0.Add(time.Duration(i)*time.Millisecond), t0.Add(time.Hour))
		if err := s.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decide(ctx, a.ID, approval.Decision{Approve: true, By: "alice", Via: approval.ViaAPI, At: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		want[a.ID] = true
	}
	o.ask("consume")
	o.send("go")
	var (
		mu   sync.Mutex
		here []string
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				a, err := s.Consume(ctx, key, t0.Add(2*time.Minute))
				if errors.Is(err, approval.ErrNotFound) {
					return
				}
				if err != nil {
					t.Errorf("Consume = %v", err)
					return
				}
				mu.Lock()
				here = append(here, a.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	there := strings.Fields(strings.TrimPrefix(o.reply("consume"), "ids"))
	seen := make(map[string]int)
	for _, id := range append(here, there...) {
		seen[id]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("approval %s was consumed %d times; want once", id, seen[id])
		}
	}
	if len(seen) != n {
		t.Errorf("%d approvals consumed; want %d", len(seen), n)
	}
	t.Logf("consumed %d here and %d in the other process", len(here), len(there))
}
