package web

import (
	"sync"
	"time"
)

// Sign-in throttling: after freeFailures failed sign-ins from one address,
// each further attempt waits, the wait doubling with every failure up to
// maxWait. A failure is forgotten forgetAfter after the last one, and a
// success clears the address.
const (
	freeFailures = 5
	firstWait    = time.Second
	maxWait      = 5 * time.Minute
	forgetAfter  = 15 * time.Minute
	// maxTracked bounds the memory the limiter uses. Past it, addresses not
	// yet tracked share one entry, so a flood of addresses is throttled as
	// one.
	maxTracked = 10000
)

// overflowKey is the shared entry for addresses past maxTracked.
const overflowKey = "\x00overflow"

type loginLimiter struct {
	mu    sync.Mutex
	addrs map[string]*failures // guarded by mu
}

type failures struct {
	n     int
	last  time.Time
	until time.Time // no attempt before this
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{addrs: make(map[string]*failures)}
}

// blocked returns how long addr must wait before its next attempt, or 0.
func (l *loginLimiter) blocked(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[addr]
	if f == nil {
		f = l.addrs[overflowKey]
		if f == nil || len(l.addrs) < maxTracked {
			return 0
		}
	}
	if now.Before(f.until) {
		return f.until.Sub(now)
	}
	return 0
}

// failed records a failed attempt from addr.
func (l *loginLimiter) failed(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[addr]
	if f != nil && now.Sub(f.last) > forgetAfter {
		f = nil
		delete(l.addrs, addr)
	}
	if f == nil {
		if len(l.addrs) >= maxTracked {
			l.prune(now)
		}
		if len(l.addrs) >= maxTracked {
			addr = overflowKey
			f = l.addrs[addr]
		}
		if f == nil {
			f = &failures{}
			l.addrs[addr] = f
		}
	}
	f.n++
	f.last = now
	if f.n >= freeFailures {
		wait := firstWait << min(f.n-freeFailures, 20)
		f.until = now.Add(min(wait, maxWait))
	}
}

// succeeded clears addr's failures.
func (l *loginLimiter) succeeded(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.addrs, addr)
}

// prune forgets stale entries. l.mu must be held.
func (l *loginLimiter) prune(now time.Time) {
	for k, f := range l.addrs {
		if now.Sub(f.last) > forgetAfter && !now.Before(f.until) {
			delete(l.addrs, k)
		}
	}
}
