package redislimit

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/toolgate/toolgate/internal/limit"
	"github.com/toolgate/toolgate/internal/limit/limittest"
)

const envRedis = "TOOLGATE_TEST_REDIS"

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// redisURL returns the test Redis's URL, or skips the test.
func redisURL(t testing.TB) string {
	u := os.Getenv(envRedis)
	if u == "" {
		t.Skipf("set %s (e.g. redis://127.0.0.1:6379/0) to run the Redis tests", envRedis)
	}
	return u
}

// testPrefix returns a key prefix of its own for this test and deletes its
// keys when the test ends.
func testPrefix(t testing.TB, url string) string {
	prefix := "toolgate-test:" + rand.Text() + ":"
	t.Cleanup(func() {
		o, err := redis.ParseURL(url)
		if err != nil {
			t.Error(err)
			return
		}
		c := redis.NewClient(o)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, glob(prefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("clean up %s: %v", iter.Val(), err)
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean up %s*: %v", prefix, err)
		}
	})
	return prefix
}

// open returns a store on url with a prefix of its own, closed when the test
// ends.
func open(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = testPrefix(t, redisURL(t))
	}
	s, err := Open(url, &opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	url := redisURL(t)
	limittest.Run(t, func(t *testing.T) limit.Store { return open(t, url, Options{CallerClock: true}) })
}

// TestReplicas runs two stores with clients of their own, on the server's
// clock, against one budget.
func TestReplicas(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t, url)
	stores := []*Store{open(t, url, Options{Prefix: prefix}), open(t, url, Options{Prefix: prefix})}
	c := []limit.Charge{{Key: "replicas", Window: time.Minute, Max: 30, Cost: 1}}
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	// The replicas' clocks are far apart: the server's decides.
	clocks := []time.Time{t0, t0.Add(-time.Hour)}
	for i := range 500 {
		wg.Go(func() {
			<-start
			r, err := stores[i%2].Take(context.Background(), clocks[i%2], c)
			if err != nil {
				t.Errorf("Take = %v", err)
			}
			if r.OK {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := ok.Load(); got != 30 {
		t.Errorf("500 Takes on two replicas against max 30 admitted %d; want 30", got)
	}
	r, err := stores[0].Take(context.Background(), t0, c)
	if err != nil || r.OK || r.RetryAfter <= 0 || r.RetryAfter > time.Minute {
		t.Errorf("Take of an exhausted budget = %+v, %v; want a denial within a minute", r, err)
	}
	for _, s := range stores {
		us, err := s.Usage(context.Background(), time.Time{}, "")
		if err != nil || len(us) != 1 || us[0].Used != 30 || us[0].Max != 30 || us[0].Window != time.Minute {
			t.Errorf("Usage = %+v, %v; want replicas used 30 of 30 in 1m", us, err)
		}
	}
}

// TestExpire checks that a budget's keys expire with its newest entry.
func TestExpire(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t, url)
	s := open(t, url, Options{Prefix: prefix, CallerClock: true})
	ctx := context.Background()
	c := limit.Charge{Key: "ttl", Window: 10 * time.Second, Max: 5, Cost: 1}
	for _, d := range []time.Duration{0, 3 * time.Second} {
		if r, err := s.Take(ctx, t0.Add(d), []limit.Charge{c}); !r.OK || err != nil {
			t.Fatalf("Take = %+v, %v", r, err)
		}
	}
	for _, k := range []string{prefix + "l:ttl", prefix + "m:ttl"} {
		ttl, err := s.c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 9*time.Second || ttl > c.Window+time.Millisecond {
			t.Errorf("PTTL(%s) = %v, %v; want the window, %v", k, ttl, err, c.Window)
		}
	}
	// A caller behind the newest entry keeps the keys until that one leaves.
	if r, err := s.Take(ctx, t0, []limit.Charge{c}); !r.OK || err != nil {
		t.Fatalf("Take = %+v, %v", r, err)
	}
	if ttl, err := s.c.PTTL(ctx, prefix+"l:ttl").Result(); err != nil || ttl <= 12*time.Second {
		t.Errorf("PTTL after a late caller = %v, %v; want over 12s", ttl, err)
	}
}

func TestUsagePrefixGlob(t *testing.T) {
	url := redisURL(t)
	s := open(t, url, Options{CallerClock: true})
	ctx := context.Background()
	for _, k := range []string{"a*b|x", "a*b|y", "aXb|z", "a[b]|w"} {
		c := limit.Charge{Key: k, Window: time.Minute, Max: 5, Cost: 1}
		if r, err := s.Take(ctx, t0, []limit.Charge{c}); !r.OK || err != nil {
			t.Fatalf("Take(%q) = %+v, %v", k, r, err)
		}
	}
	for prefix, want := range map[string]int{"a*b|": 2, "a[b]": 1, "a": 4, "*": 0} {
		us, err := s.Usage(ctx, t0, prefix)
		if err != nil || len(us) != want {
			t.Errorf("Usage(%q) = %v, %v; want %d budgets", prefix, us, err, want)
		}
	}
}

// TestUnreachable points a store at a closed port: Take fails, quickly.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := Open("redis://"+addr+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := []limit.Charge{{Key: "k", Window: time.Minute, Max: 5, Cost: 1}}
	for range 3 {
		start := time.Now()
		r, err := s.Take(context.Background(), t0, c)
		if err == nil {
			t.Fatalf("Take with Redis unreachable = %+v, nil; want an error", r)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Take with Redis unreachable took %v; want at most 2s", d)
		}
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Errorf("Ping with Redis unreachable = nil; want an error")
	}
	if _, err := s.Usage(context.Background(), t0, ""); err == nil {
		t.Errorf("Usage with Redis unreachable = nil error; want an error")
	}
}

// TestUnresponsive points a store at a server that accepts connections and
// never answers: Take fails within the timeouts.
func TestUnresponsive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held, never read
		}
	})
	s, err := Open("redis://"+ln.Addr().String()+"/0?read_timeout=200ms&write_timeout=200ms", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	r, err := s.Take(context.Background(), t0, []limit.Charge{{Key: "k", Window: time.Minute, Max: 5, Cost: 1}})
	if err == nil {
		t.Fatalf("Take with Redis silent = %+v, nil; want an error", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Take with Redis silent took %v; want at most 2s", d)
	}
	// A caller's deadline applies too, when it is the shorter.
	slow, err := Open("redis://"+ln.Addr().String()+"/0?read_timeout=10s&write_timeout=10s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := slow.Take(ctx, t0, []limit.Charge{{Key: "k", Window: time.Minute, Max: 5, Cost: 1}}); err == nil {
		t.Fatalf("Take with Redis silent = nil error; want an error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Take with a 100ms deadline took %v; want at most 2s", d)
	}
}

// TestOutage runs a store through a proxy to Redis that goes down and comes
// back: Take fails while it is down and works again after, by itself, with
// the budget as it was.
func TestOutage(t *testing.T) {
	u, err := url.Parse(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()
	s := open(t, u.String(), Options{Prefix: testPrefix(t, redisURL(t)), CallerClock: true})
	ctx := context.Background()
	c := []limit.Charge{{Key: "outage", Window: time.Minute, Max: 3, Cost: 1}}
	if r, err := s.Take(ctx, t0, c); !r.OK || err != nil {
		t.Fatalf("Take before the outage = %+v, %v; want OK", r, err)
	}
	p.setDown(true)
	for range 3 {
		start := time.Now()
		if r, err := s.Take(ctx, t0, c); err == nil {
			t.Fatalf("Take during the outage = %+v, nil; want an error", r)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Take during the outage took %v; want at most 2s", d)
		}
	}
	p.setDown(false)
	// Connections that died with the outage may fail one Take each.
	var r limit.Result
	for range 3 {
		if r, err = s.Take(ctx, t0, c); err == nil {
			break
		}
	}
	if !r.OK || err != nil {
		t.Fatalf("Take after the outage = %+v, %v; want OK", r, err)
	}
	us, err := s.Usage(ctx, t0, "")
	if err != nil || len(us) != 1 || us[0].Used != 2 {
		t.Errorf("Usage after the outage = %v, %v; want outage used 2", us, err)
	}
}

// proxy relays TCP connections to a target until it is set down, when it
// drops them all and resets new ones.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup // the accept loop and the relays

	mu    sync.Mutex
	down  bool                  // guarded by mu
	conns map[net.Conn]struct{} // guarded by mu
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		relay := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { relay(up, c) })
		p.wg.Go(func() { relay(c, up) })
	}
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func TestGlob(t *testing.T) {
	for in, want := range map[string]string{
		"plain|grant|x": "plain|grant|x",
		`a*b?c[d]e\f`:   `a\*b\?c\[d\]e\\f`,
	} {
		if got := glob(in); got != want {
			t.Errorf("glob(%q) = %q; want %q", in, got, want)
		}
	}
}

func BenchmarkTake(b *testing.B) {
	url := redisURL(b)
	for _, bc := range []struct {
		name   string
		caller bool
		n      int
	}{
		{"server-clock", false, 1},
		{"caller-clock", true, 1},
		{"server-clock-3", false, 3},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b, url, Options{CallerClock: bc.caller})
			var cs []limit.Charge
			for i := range bc.n {
				cs = append(cs, limit.Charge{Key: "bench|" + strconv.Itoa(i), Window: time.Second, Max: 700, Cost: 1})
			}
			now, ctx := t0, context.Background()
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Millisecond)
				if _, err := s.Take(ctx, now, cs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
