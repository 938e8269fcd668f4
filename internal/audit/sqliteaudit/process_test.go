package sqliteaudit_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/audit/sqliteaudit"
)

// helperEnv makes the test binary act as another process writing to the
// store: a gateway, or a second one on the same state directory. Its value
// is "DIR MODE LABEL [N]".
const helperEnv = "SQLITEAUDIT_TEST_HELPER"

// TestHelperProcess is the other process. It writes records labelled
// LABEL (as their grant label) to the store in DIR through a Writer, and
// prints "ID UNIXNANO" when each Write has returned. MODE "batch" writes N
// records in the default mode, then closes; "sync" and "default" write one
// record a millisecond in that mode until killed.
func TestHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("run by TestOtherProcess and TestKill")
	}
	fields := strings.Fields(spec)
	dir, mode, label := fields[0], fields[1], fields[2]
	ctx := context.Background()
	s, err := sqliteaudit.Open(ctx, dir, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	w := audit.NewWriter(s, &audit.WriterOptions{Sync: mode == "sync"})
	write := func(i int) {
		id := fmt.Sprintf("%s-%d", label, i)
		if err := w.Write(ctx, &audit.Record{RequestID: id, GrantLabel: label, Decision: audit.DecisionAllow}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(id, time.Now().UnixNano())
	}
	if mode == "batch" {
		n, _ := strconv.Atoi(fields[3])
		for i := range n {
			write(i)
		}
		if err := w.Close(ctx); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		s.Close()
		return
	}
	// A steady load, well within what the store takes, so that records
	// wait for the batching only, not for a backlog.
	tick := time.NewTicker(time.Millisecond)
	for i := 0; ; i++ {
		<-tick.C
		write(i)
	}
}

// helper starts the other process.
func helper(t *testing.T, dir, mode, label string, n int) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %d", helperEnv, dir, mode, label, n))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(out)
}

// line reads the helper's next "ID UNIXNANO" line.
func line(t *testing.T, sc *bufio.Scanner) (id string, at time.Time) {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("the other process ended: %v", sc.Err())
	}
	f := strings.Fields(sc.Text())
	if len(f) != 2 || f[0] == "error" {
		t.Fatalf("the other process said %q", sc.Text())
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatalf("the other process said %q", sc.Text())
	}
	return f[0], time.Unix(0, ns)
}

// stored returns the RequestIDs of the records labelled label.
func stored(t *testing.T, s audit.Store, label string) map[string]bool {
	t.Helper()
	recs, err := s.Query(context.Background(), audit.Filter{Grant: label})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.RequestID] = true
	}
	return ids
}

func verifyClean(t *testing.T, s audit.Store, checked int64) {
	t.Helper()
	rep, err := s.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || (checked >= 0 && rep.Checked != checked) {
		t.Fatalf("Verify = checked %d, problems %v; want %d checked, no problems", rep.Checked, rep.Problems, checked)
	}
}

// TestOtherProcess appends from two other processes and this one at once,
// as two gateways (or a gateway and the CLI) on one state directory would:
// the chain stays one.
func TestOtherProcess(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, nil).Close()
	const n = 300
	var cmds []*exec.Cmd
	var wg sync.WaitGroup
	for _, label := range []string{"p1", "p2"} {
		cmd, out := helper(t, dir, "batch", label, n)
		cmds = append(cmds, cmd)
		wg.Go(func() {
			for out.Scan() {
			}
		})
	}
	s := open(t, dir, nil)
	defer s.Close()
	w := audit.NewWriter(s, &audit.WriterOptions{MaxBatch: 10})
	for i := range n {
		if err := w.Write(context.Background(), &audit.Record{RequestID: fmt.Sprint(i), GrantLabel: "here", Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("the other process: %v", err)
		}
	}
	for _, label := range []string{"p1", "p2", "here"} {
		if got := len(stored(t, s, label)); got != n {
			t.Fatalf("%d records of %s stored; want %d", got, label, n)
		}
	}
	verifyClean(t, s, 3*n)
}

// TestKillSync checks audit.sync's promise: when the process is killed,
// every record whose Write had returned is in the database.
func TestKillSync(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, nil).Close()
	cmd, out := helper(t, dir, "sync", "gw", 0)
	var written []string
	for len(written) < 300 {
		id, _ := line(t, out)
		written = append(written, id)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	s := open(t, dir, nil)
	defer s.Close()
	ids := stored(t, s, "gw")
	for _, id := range written {
		if !ids[id] {
			t.Fatalf("record %s, whose Write returned before the kill, is not stored (%d of %d are)", id, len(ids), len(written))
		}
	}
	verifyClean(t, s, -1)
	t.Logf("%d records confirmed before the kill, %d stored", len(written), len(ids))
}

// TestKillDefault checks the default mode's promise: when the process is
// killed, every record written more than a second before is in the
// database.
func TestKillDefault(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, nil).Close()
	cmd, out := helper(t, dir, "default", "gw", 0)
	type write struct {
		id string
		at time.Time
	}
	var written []write
	for len(written) == 0 || written[len(written)-1].at.Sub(written[0].at) < 2*time.Second {
		id, at := line(t, out)
		written = append(written, write{id, at})
	}
	killed := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	s := open(t, dir, nil)
	defer s.Close()
	ids := stored(t, s, "gw")
	due := 0
	for _, w := range written {
		if killed.Sub(w.at) > time.Second {
			due++
			if !ids[w.id] {
				t.Fatalf("record %s, written %v before the kill, is not stored", w.id, killed.Sub(w.at))
			}
		}
	}
	verifyClean(t, s, -1)
	t.Logf("%d records written, %d of them over a second before the kill; %d stored", len(written), due, len(ids))
}
