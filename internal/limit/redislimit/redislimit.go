// Package redislimit is the limit.Store that several gateway replicas
// share: the budgets live in Redis (github.com/redis/go-redis/v9).
//
// A Take is one round trip: a Lua script (EVALSHA, falling back to EVAL
// when the server has lost it) that runs the sliding log of package limit
// over all the Take's budgets at once. Redis runs a script alone, so the
// admission is atomic and exact whatever the number of replicas and
// goroutines.
//
// # Keys
//
// Each budget is two keys: Prefix+"l:"+key, a sorted set with one member
// per admission (score: its time in microseconds; member: a sequence number
// and its cost), and Prefix+"m:"+key, a hash with the sum of the costs in
// the log, the window and the max. A Take first drops the budget's entries
// that have left the window, and both keys expire (PEXPIRE) when their
// newest entry does, so Redis holds at most min(max, admissions in the last
// window) entries per budget, and nothing for an unused one. Redis must not
// evict the keys before that (use maxmemory-policy noeviction, or a Redis of
// its own): a log evicted early forgets admissions. With Redis Cluster, all
// the keys of one Take must hash to one slot: put a hash tag in the prefix,
// e.g. "{toolgate}:limit:"; Usage, which uses SCAN, then sees one node only.
//
// # Clock
//
// By default the script reads the Redis server's clock (TIME), so replicas
// whose clocks disagree still agree on every window, and the now passed to
// Take and Usage is ignored. Times are kept in microseconds, Redis's
// resolution. Options.CallerClock uses the callers' now instead.
//
// # Failures
//
// When Redis cannot be reached or does not answer, Take returns an error
// within the client's timeouts (those Open sets are short) and the caller
// should refuse the call. Nothing has to be done when Redis comes back: the
// next Take reconnects. If the connection fails after the script ran, the
// admission may have been spent although Take reported an error; that errs
// on the side of the limit. Open's client does not retry, so that a Take
// is never applied twice.
package redislimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/toolgate/toolgate/internal/limit"
)

// DefaultPrefix starts the keys of a store whose Options.Prefix is empty.
const DefaultPrefix = "toolgate:limit:"

// Options configures a Store. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// Prefix starts every key the store uses; the default is DefaultPrefix.
	// The replicas that share budgets must share it.
	Prefix string
	// CallerClock makes Take and Usage use the now passed to them, not the
	// Redis server's clock. Replicas must then have synchronized clocks;
	// tests use it to control time.
	CallerClock bool
}

// Store is the Redis-backed limit.Store. It is safe for concurrent use. Make
// one with Open or New; the zero Store is not usable.
type Store struct {
	c      redis.UniversalClient
	own    bool // Close closes c
	prefix string
	caller bool
	closed atomic.Bool
}

var _ limit.Store = (*Store)(nil)

var (
	//go:embed take.lua
	takeSrc    string
	takeScript = redis.NewScript(takeSrc)
	//go:embed usage.lua
	usageSrc    string
	usageScript = redis.NewScript(usageSrc)
)

// Timeouts Open sets when the URL does not: a Take fails fast when Redis is
// away, so that the gateway answers (by refusing) instead of hanging.
const (
	DefaultDialTimeout = time.Second
	DefaultIOTimeout   = 500 * time.Millisecond
)

// Open returns a store on the Redis at url, e.g. redis://127.0.0.1:6379/0
// (the go-redis URL syntax, whose query can set dial_timeout, read_timeout,
// write_timeout and pool_timeout). It does no I/O: the connection is made
// by the first Take; call Ping to check it. The store owns its client and
// closes it on Close. It fails only on a bad URL.
func Open(url string, opts *Options) (*Store, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("open redis limit store: %w", err)
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultIOTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultIOTimeout
	}
	if o.PoolTimeout == 0 {
		o.PoolTimeout = DefaultIOTimeout + DefaultDialTimeout
	}
	// A retried script might be applied twice; a retried dial only delays
	// the error.
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.ContextTimeoutEnabled = true
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	s := New(redis.NewClient(o), opts)
	s.own = true
	return s, nil
}

// New returns a store using client c, which it does not close. The client's
// timeouts and retries apply to Take; see Open for the ones it should have.
func New(c redis.UniversalClient, opts *Options) *Store {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{c: c, prefix: opts.Prefix, caller: opts.CallerClock}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	return s
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis limit store: %w", err)
	}
	return nil
}

// Take implements limit.Store, in one round trip to Redis (none when no
// charge has a cost). Its errors are limit.ErrInvalid, limit.ErrClosed and
// those of Redis.
func (s *Store) Take(ctx context.Context, now time.Time, charges []limit.Charge) (limit.Result, error) {
	if err := limit.Check(charges); err != nil {
		return limit.Result{}, err
	}
	if s.closed.Load() {
		return limit.Result{}, limit.ErrClosed
	}
	if !slices.ContainsFunc(charges, func(c limit.Charge) bool { return c.Cost > 0 }) {
		return limit.Result{OK: true}, nil
	}
	keys := make([]string, 0, 2*len(charges))
	args := make([]any, 0, 1+3*len(charges))
	args = append(args, s.now(now))
	for _, c := range charges {
		keys = append(keys, s.prefix+"l:"+c.Key, s.prefix+"m:"+c.Key)
		args = append(args, micros(c.Window), c.Max, c.Cost)
	}
	v, err := takeScript.Run(ctx, s.c, keys, args...).Int64Slice()
	if err != nil {
		return limit.Result{}, fmt.Errorf("redis limit store: %w", err)
	}
	if len(v) != 3 {
		return limit.Result{}, fmt.Errorf("redis limit store: script returned %v", v)
	}
	if v[0] == 1 {
		return limit.Result{OK: true}, nil
	}
	r := limit.Result{Denied: int(v[1]), RetryAfter: limit.Never}
	if v[2] >= 0 {
		r.RetryAfter = time.Duration(v[2]) * time.Microsecond
	}
	return r, nil
}

// Usage implements limit.Store. It scans the store's keys (SCAN) and reads
// each budget without changing it.
func (s *Store) Usage(ctx context.Context, now time.Time, prefix string) ([]limit.Usage, error) {
	if s.closed.Load() {
		return nil, limit.ErrClosed
	}
	if err := usageScript.Load(ctx, s.c).Err(); err != nil {
		return nil, fmt.Errorf("redis limit store: %w", err)
	}
	metas := s.prefix + "m:"
	at := s.now(now)
	var out []limit.Usage
	iter := s.c.Scan(ctx, 0, glob(metas+prefix)+"*", 1000).Iterator()
	var page []string
	flush := func() error {
		p := s.c.Pipeline()
		cmds := make([]*redis.Cmd, len(page))
		for i, meta := range page {
			key := strings.TrimPrefix(meta, metas)
			cmds[i] = p.EvalSha(ctx, usageScript.Hash(), []string{s.prefix + "l:" + key, meta}, at)
		}
		if _, err := p.Exec(ctx); err != nil {
			return err
		}
		for i, cmd := range cmds {
			v, err := cmd.Int64Slice()
			if err != nil {
				return err
			}
			if len(v) == 4 && v[0] > 0 {
				out = append(out, limit.Usage{
					Key:      strings.TrimPrefix(page[i], metas),
					Used:     v[0],
					Max:      v[1],
					Window:   time.Duration(v[2]) * time.Microsecond,
					NextFree: time.Duration(v[3]) * time.Microsecond,
				})
			}
		}
		page = page[:0]
		return nil
	}
	for iter.Next(ctx) {
		if page = append(page, iter.Val()); len(page) == 1000 {
			if err := flush(); err != nil {
				return nil, fmt.Errorf("redis limit store: %w", err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redis limit store: %w", err)
	}
	if len(page) > 0 {
		if err := flush(); err != nil {
			return nil, fmt.Errorf("redis limit store: %w", err)
		}
	}
	// SCAN may return a key twice.
	slices.SortFunc(out, func(a, b limit.Usage) int { return strings.Compare(a.Key, b.Key) })
	out = slices.CompactFunc(out, func(a, b limit.Usage) bool { return a.Key == b.Key })
	return out, nil
}

// Close implements limit.Store. It closes the client if Open made it.
func (s *Store) Close() error {
	if s.closed.Swap(true) || !s.own {
		return nil
	}
	if err := s.c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("redis limit store: %w", err)
	}
	return nil
}

// now is the script's now argument: "" for the server's clock.
func (s *Store) now(t time.Time) string {
	if !s.caller {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

// micros rounds d up to whole microseconds, so a window never shrinks.
func micros(d time.Duration) int64 {
	return int64((d + time.Microsecond - 1) / time.Microsecond)
}

// glob escapes the special characters of a SCAN MATCH pattern.
func glob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
