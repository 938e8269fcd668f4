package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// streamableKey marks the context of a Streamable HTTP request that may
// begin a stateful session, so that initialize can tell such sessions from
// those of the other transports.
type streamableKey struct{}

// A down is a stateful Streamable HTTP session of an agent, as the Front
// tracks it: every POST of the session passes through Front.ServeHTTP, so it
// keeps the session's idle timer (the fast path's calls never reach the
// SDK's), the IDs of its calls in flight, and the gateway's requests to the
// agent that wait for its answer.
type down struct {
	ss      *mcp.ServerSession
	user    string // the user ID of the token that began the session; "" for none
	version string // the protocol revision negotiated with the agent
	link    atomic.Pointer[link]

	timeout time.Duration // how long the session may sit idle

	mu    sync.Mutex
	posts int                               // guarded by mu: POSTs under way
	idle  *time.Timer                       // guarded by mu; nil once the session ended
	calls map[jsonrpc.ID]context.CancelFunc // guarded by mu: calls in flight; nil func for the SDK's
	asks  map[jsonrpc.ID]chan envelope      // guarded by mu: requests to the agent awaiting its answer
}

// track starts tracking a stateful Streamable HTTP session, until it ends.
// It returns nil once the Front is closing.
func (f *Front) track(ss *mcp.ServerSession, user, version string) *down {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shut {
		return nil
	}
	if d := f.downs[ss.ID()]; d != nil {
		return d
	}
	d := &down{
		ss:      ss,
		user:    user,
		version: version,
		timeout: f.opts.SessionTimeout,
		calls:   make(map[jsonrpc.ID]context.CancelFunc),
		asks:    make(map[jsonrpc.ID]chan envelope),
	}
	// The session closes after a time without requests, as the SDK's own
	// timeout would close it.
	d.idle = time.AfterFunc(d.timeout, func() { _ = ss.Close() })
	f.downs[ss.ID()] = d
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = ss.Wait()
		f.mu.Lock()
		delete(f.downs, ss.ID())
		f.mu.Unlock()
		d.mu.Lock()
		d.idle.Stop()
		d.idle = nil
		d.mu.Unlock()
	}()
	return d
}

func (f *Front) downFor(sid string) *down {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.downs[sid]
}

// posting and posted bracket a POST of the session: the idle timer stops
// while any is under way.
func (d *down) posting() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.posts++
	if d.posts == 1 && d.idle != nil {
		d.idle.Stop()
	}
}

func (d *down) posted() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.posts--
	if d.posts == 0 && d.idle != nil {
		d.idle.Reset(d.timeout)
	}
}

// startCall registers a call in flight, reporting false if its ID already
// is (the protocol requires IDs unique among a session's requests in
// flight). cancel, if not nil, cancels it.
func (d *down) startCall(id jsonrpc.ID, cancel context.CancelFunc) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.calls[id]; ok {
		return false
	}
	d.calls[id] = cancel
	return true
}

func (d *down) endCall(id jsonrpc.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.calls, id)
}

// cancelCall cancels a call the fast path serves, reporting whether there
// was one.
func (d *down) cancelCall(id jsonrpc.ID) bool {
	d.mu.Lock()
	cancel := d.calls[id]
	d.mu.Unlock()
	if cancel == nil {
		return false
	}
	cancel()
	return true
}

// await registers a request to the agent; answer delivers its answer to the
// returned channel. The returned func unregisters it.
func (d *down) await(id jsonrpc.ID) (<-chan envelope, func()) {
	ch := make(chan envelope, 1)
	d.mu.Lock()
	d.asks[id] = ch
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		delete(d.asks, id)
		d.mu.Unlock()
	}
}

// answer delivers the agent's answer to a request of the gateway,
// reporting whether one was waiting for it.
func (d *down) answer(env envelope) bool {
	d.mu.Lock()
	ch := d.asks[env.ID]
	delete(d.asks, env.ID)
	d.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- env
	return true
}
