package sqlitelimit

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/limit"
	"github.com/toolgate/toolgate/internal/limit/limittest"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	return s
}

func TestContract(t *testing.T) {
	limittest.Run(t, func(t *testing.T) limit.Store { return open(t, t.TempDir()) })
}

func TestContractSync(t *testing.T) {
	limittest.Run(t, func(t *testing.T) limit.Store {
		s, err := Open(context.Background(), t.TempDir(), &Options{Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestContractReopened runs the contract on a store reopened after each
// admission, so every decision is made from what the database kept.
func TestContractReopened(t *testing.T) {
	limittest.Run(t, func(t *testing.T) limit.Store {
		dir := t.TempDir()
		return &reopening{t: t, dir: dir, s: open(t, dir)}
	})
}

// reopening is a Store that closes and reopens its database after every
// admitting Take. It serializes its calls.
type reopening struct {
	t   *testing.T
	dir string

	mu sync.Mutex
	s  *Store // guarded by mu
}

func (r *reopening) Take(ctx context.Context, now time.Time, cs []limit.Charge) (limit.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, err := r.s.Take(ctx, now, cs)
	if err != nil || !res.OK {
		return res, err
	}
	if err := r.s.Close(); err != nil {
		r.t.Errorf("Close = %v", err)
	}
	s, err := Open(ctx, r.dir, nil)
	if err != nil {
		return res, fmt.Errorf("reopen: %w", err)
	}
	r.s = s
	return res, nil
}

func (r *reopening) Usage(ctx context.Context, now time.Time, prefix string) ([]limit.Usage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s.Usage(ctx, now, prefix)
}

func (r *reopening) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s.Close()
}

func TestRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	a := limit.Charge{Key: "provision_applications_rate|grant|ci-runner", Window: time.Minute, Max: 3, Cost: 1}
	b := limit.Charge{Key: "all|grant|ci-runner", Window: time.Hour, Max: 100, Cost: 2}
	for i := range 3 {
		if r, err := s.Take(ctx, t0.Add(time.Duration(i)*time.Second), []limit.Charge{a, b}); !r.OK || err != nil {
			t.Fatalf("Take %d = %+v, %v; want OK", i, r, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	s = open(t, dir)
	defer s.Close()
	want := limit.Result{Denied: 0, RetryAfter: 50 * time.Second}
	if r, err := s.Take(ctx, t0.Add(10*time.Second), []limit.Charge{a, b}); r != want || err != nil {
		t.Errorf("Take after restart = %+v, %v; want %+v", r, err, want)
	}
	us, err := s.Usage(ctx, t0.Add(10*time.Second), "")
	if err != nil {
		t.Fatal(err)
	}
	wantUs := []limit.Usage{
		{Key: b.Key, Used: 6, Max: 100, Window: time.Hour, NextFree: time.Hour - 10*time.Second},
		{Key: a.Key, Used: 3, Max: 3, Window: time.Minute, NextFree: 50 * time.Second},
	}
	if fmt.Sprint(us) != fmt.Sprint(wantUs) {
		t.Errorf("Usage after restart = %v; want %v", us, wantUs)
	}
	if r, err := s.Take(ctx, t0.Add(time.Minute), []limit.Charge{a, b}); !r.OK || err != nil {
		t.Errorf("Take a window later = %+v, %v; want OK", r, err)
	}
}

func TestOpenTwice(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s2, err := Open(context.Background(), dir, nil)
	if !errors.Is(err, ErrInUse) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second Open(%s) = %v; want ErrInUse", dir, err)
	}
	t.Logf("second Open: %v", err)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, dir).Close()
}

// TestOpenTwiceProcess opens the directory from another process.
func TestOpenTwiceProcess(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs a child process")
	}
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	out, err := helper(t, "open", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "in use") {
		t.Errorf("child's Open of an open store: %s; want an in-use error", out)
	}
}

// TestSurvivesKill checks that every admission a process reported is in the
// database after a SIGKILL of that process.
func TestSurvivesKill(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs a child process and SIGKILL")
	}
	dir := t.TempDir()
	cmd := helper(t, "admit", dir)
	stdin, err := cmd.StdinPipe() // held open: the child waits on it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	admitted := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "done" {
		if sc.Text() == "admitted" {
			admitted++
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if admitted != killMax {
		t.Fatalf("child reported %d admissions; want %d", admitted, killMax)
	}
	s := open(t, dir)
	defer s.Close()
	ctx := context.Background()
	c := killCharge(1)
	if r, err := s.Take(ctx, t0.Add(time.Second), []limit.Charge{c}); r.OK || err != nil {
		t.Errorf("Take after the owner's SIGKILL = %+v, %v; want a denial", r, err)
	}
	us, err := s.Usage(ctx, t0.Add(time.Second), "")
	if err != nil || len(us) != 1 || us[0].Used != killMax {
		t.Errorf("Usage after the owner's SIGKILL = %v, %v; want %s used %d", us, err, c.Key, killMax)
	}
}

const killMax = 25

func killCharge(cost int64) limit.Charge {
	return limit.Charge{Key: "kill", Window: time.Hour, Max: killMax, Cost: cost}
}

// helper returns a command running this test binary as a child process that
// does what TestHelperProcess does for mode.
func helper(t *testing.T, mode, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "SQLITELIMIT_HELPER="+mode, "SQLITELIMIT_DIR="+dir)
	return cmd
}

// TestHelperProcess is the child of TestOpenTwiceProcess and TestSurvivesKill.
func TestHelperProcess(t *testing.T) {
	mode, dir := os.Getenv("SQLITELIMIT_HELPER"), os.Getenv("SQLITELIMIT_DIR")
	switch mode {
	case "":
		t.Skip("the child process of other tests")
	case "open":
		s, err := Open(context.Background(), dir, nil)
		if err == nil {
			s.Close()
		}
		fmt.Println(err)
	case "admit":
		s, err := Open(context.Background(), dir, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// Costs 1 and 2 alternate, in one- and two-charge Takes, up to the max.
		for i := 0; ; i++ {
			cs := []limit.Charge{killCharge(1)}
			if i%2 == 1 {
				cs = append(cs, killCharge(1))
			}
			r, err := s.Take(context.Background(), t0.Add(time.Duration(i)*time.Millisecond), cs)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if !r.OK {
				break
			}
			for range cs {
				fmt.Println("admitted")
			}
		}
		fmt.Println("done")
		// Wait to be killed, the store still open.
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
}

// TestPrune checks that rows whose window has passed leave the database.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	for i := range 100 {
		c := limit.Charge{Key: "k" + strconv.Itoa(i), Window: time.Second, Max: 1, Cost: 1}
		if r, err := s.Take(ctx, t0, []limit.Charge{c}); !r.OK || err != nil {
			t.Fatalf("Take = %+v, %v", r, err)
		}
	}
	c := limit.Charge{Key: "late", Window: time.Second, Max: 1, Cost: 1}
	if r, err := s.Take(ctx, t0.Add(2*pruneEvery), []limit.Charge{c}); !r.OK || err != nil {
		t.Fatalf("Take = %+v, %v", r, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM admissions").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows after a prune = %d, %v; want 1", n, err)
	}
}

// TestManyCharges writes a Take of more charges than one statement holds.
func TestManyCharges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	var cs []limit.Charge
	for i := range 3*maxStmtRows + 1 {
		cs = append(cs, limit.Charge{Key: "k" + strconv.Itoa(i), Window: time.Minute, Max: 1, Cost: 1})
	}
	if r, err := s.Take(ctx, t0, cs); !r.OK || err != nil {
		t.Fatalf("Take = %+v, %v; want OK", r, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	if us, err := s.Usage(ctx, t0, ""); err != nil || len(us) != len(cs) {
		t.Errorf("Usage after reopening = %d budgets, %v; want %d", len(us), err, len(cs))
	}
	if r, err := s.Take(ctx, t0, cs[len(cs)-1:]); r.OK || err != nil {
		t.Errorf("Take after reopening = %+v, %v; want a denial", r, err)
	}
}

// BenchmarkTakeParallel admits from 16 goroutines, whose writes share
// transactions.
func BenchmarkTakeParallel(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := []limit.Charge{{Key: "k" + strconv.FormatInt(n.Add(1), 10), Window: time.Second, Max: limit.MaxBudget, Cost: 1}}
		now, ctx := t0, context.Background()
		for pb.Next() {
			now = now.Add(time.Millisecond)
			if _, err := s.Take(ctx, now, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkTake(b *testing.B) {
	for _, bc := range []struct {
		name string
		max  int64
		sync bool
	}{
		{"admit", limit.MaxBudget, false},
		{"deny", 1, false},
		{"admit-sync", limit.MaxBudget, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(context.Background(), b.TempDir(), &Options{Sync: bc.sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			c := []limit.Charge{{Key: "provision_applications_rate|grant|ci-runner", Window: time.Second, Max: bc.max, Cost: 1}}
			now, ctx := t0, context.Background()
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Millisecond)
				if _, err := s.Take(ctx, now, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
