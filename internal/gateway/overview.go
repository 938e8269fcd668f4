package gateway

import (
	"net/http"
	"sync"
	"time"
)

// activity counts each server's calls and denials per minute over the last
// hour, for the console's overview. It is safe for concurrent use.
type activity struct {
	mu      sync.Mutex
	servers map[string]*[60]minuteCount // guarded by mu
}

type minuteCount struct {
	minute         int64 // Unix minute the counts belong to
	calls, denials int64
}

func (a *activity) add(server string, at time.Time, denied bool) {
	m := at.Unix() / 60
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.servers == nil {
		a.servers = make(map[string]*[60]minuteCount)
	}
	ring := a.servers[server]
	if ring == nil {
		ring = new([60]minuteCount)
		a.servers[server] = ring
	}
	b := &ring[m%60]
	if b.minute != m {
		*b = minuteCount{minute: m}
	}
	b.calls++
	if denied {
		b.denials++
	}
}

// since sums a server's counts over the minutes from at-span to at, the
// current minute included.
func (a *activity) since(server string, at time.Time, span time.Duration) (calls, denials int64) {
	now := at.Unix() / 60
	first := now - int64(span/time.Minute) + 1
	a.mu.Lock()
	defer a.mu.Unlock()
	ring := a.servers[server]
	if ring == nil {
		return 0, 0
	}
	for _, b := range ring {
		if b.minute >= first && b.minute <= now {
			calls += b.calls
			denials += b.denials
		}
	}
	return calls, denials
}

// denied reports whether a decision stopped the call.
func denied(decision string) bool {
	switch decision {
	case "allow", "approved":
		return false
	}
	return true
}

// ServerOverview is one server's line on the console's overview.
type ServerOverview struct {
	Name              string `json:"name"`
	Ready             bool   `json:"ready"`
	Restarts          int64  `json:"restarts"`
	Tools             int    `json:"tools"`
	CallsLastMinute   int64  `json:"calls_last_minute"`
	DenialsLastMinute int64  `json:"denials_last_minute"`
	CallsLastHour     int64  `json:"calls_last_hour"`
	DenialsLastHour   int64  `json:"denials_last_hour"`
}

// Overview is what GET /api/v1/overview returns.
type Overview struct {
	Servers          []ServerOverview `json:"servers"`
	PendingApprovals int              `json:"pending_approvals"`
	CallsLastHour    int64            `json:"calls_last_hour"`
	DenialsLastHour  int64            `json:"denials_last_hour"`
}

func (g *Gateway) overview(w http.ResponseWriter, r *http.Request) {
	now := g.now()
	out := Overview{Servers: []ServerOverview{}}
	servers := *g.servers.Load()
	for _, sc := range g.cfg.Load().Servers {
		s := servers[sc.Name]
		if s == nil {
			continue
		}
		v := ServerOverview{Name: sc.Name, Ready: s.front.Ready(), Restarts: s.front.Restarts()}
		if v.Ready {
			if tools, err := s.front.Tools(r.Context()); err == nil {
				v.Tools = len(tools)
			}
		}
		v.CallsLastMinute, v.DenialsLastMinute = g.activity.since(sc.Name, now, time.Minute)
		v.CallsLastHour, v.DenialsLastHour = g.activity.since(sc.Name, now, time.Hour)
		out.CallsLastHour += v.CallsLastHour
		out.DenialsLastHour += v.DenialsLastHour
		out.Servers = append(out.Servers, v)
	}
	out.PendingApprovals = g.pendingApprovals(r.Context())
	writeJSON(w, http.StatusOK, out)
}
