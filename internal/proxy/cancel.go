package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// The protocol says a request the client cancelled gets no response; the
// SDK's server answers it anyway, with the handler's context error. The
// gateway keeps its side of the protocol at the HTTP layer: it notes the
// request IDs a session cancels, and drops their responses from that
// session's streams.

// cancelTTL bounds how long a cancelled ID is remembered: its response
// comes within moments of the cancellation, or it came before.
const cancelTTL = time.Minute

type cancelled struct {
	mu  sync.Mutex
	ids map[string]map[jsonrpc.ID]time.Time // guarded by mu: session → request → when
}

// note records the cancellations in a request body from session sid, and
// returns the IDs cancelled.
func (c *cancelled) note(sid string, body []byte) []jsonrpc.ID {
	if !bytes.Contains(body, []byte("notifications/cancelled")) {
		return nil
	}
	var msgs []json.RawMessage
	if body = bytes.TrimSpace(body); len(body) > 0 && body[0] == '[' {
		if json.Unmarshal(body, &msgs) != nil {
			return nil
		}
	} else {
		msgs = []json.RawMessage{body}
	}
	now := time.Now()
	var ids []jsonrpc.ID
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, raw := range msgs {
		msg, err := jsonrpc.DecodeMessage(raw)
		req, ok := msg.(*jsonrpc.Request)
		if err != nil || !ok || req.Method != "notifications/cancelled" {
			continue
		}
		var p struct {
			RequestID any `json:"requestId"`
		}
		if json.Unmarshal(req.Params, &p) != nil {
			continue
		}
		id, err := jsonrpc.MakeID(p.RequestID)
		if err != nil {
			continue
		}
		if c.ids == nil {
			c.ids = make(map[string]map[jsonrpc.ID]time.Time)
		}
		set := c.ids[sid]
		if set == nil {
			set = make(map[jsonrpc.ID]time.Time)
			c.ids[sid] = set
		}
		for k, t := range set {
			if now.Sub(t) > cancelTTL {
				delete(set, k)
			}
		}
		set[id] = now
		ids = append(ids, id)
	}
	return ids
}

// take reports whether id was cancelled in session sid, forgetting it.
func (c *cancelled) take(sid string, id jsonrpc.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.ids[sid]
	if _, ok := set[id]; !ok {
		return false
	}
	delete(set, id)
	if len(set) == 0 {
		delete(c.ids, sid)
	}
	return true
}

func (c *cancelled) any(sid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids[sid]) > 0
}

func (c *cancelled) forget(sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ids, sid)
}

// dropCancelled drops server-sent events answering cancelled requests. The
// SDK writes one event per Write.
type dropCancelled struct {
	http.ResponseWriter
	c   *cancelled
	sid string
}

func (d *dropCancelled) Write(p []byte) (int, error) {
	if d.c.any(d.sid) {
		if i := bytes.Index(p, []byte("data: ")); i >= 0 {
			data := bytes.TrimSpace(p[i+len("data: "):])
			if msg, err := jsonrpc.DecodeMessage(data); err == nil {
				if resp, ok := msg.(*jsonrpc.Response); ok && d.c.take(d.sid, resp.ID) {
					return len(p), nil
				}
			}
		}
	}
	return d.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController flush the underlying writer.
func (d *dropCancelled) Unwrap() http.ResponseWriter { return d.ResponseWriter }

func (d *dropCancelled) Flush() {
	if f, ok := d.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
