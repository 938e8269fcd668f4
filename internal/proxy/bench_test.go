package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/load"
)

// BenchmarkCallTool measures one tools/call round trip over loopback HTTP
// against the load upstream, straight and through a Front whose intercept
// passes every call, so that the difference is what the Front adds.
func BenchmarkCallTool(b *testing.B) {
	up := httptest.NewServer(load.NewUpstream())
	defer up.Close()
	f := NewFront(&Spec{Name: "bench", URL: up.URL, Transport: TransportStreamable}, &Options{
		Intercept: func(next Handler) Handler { return next },
	})
	defer f.Close()
	if err := f.WaitReady(b.Context()); err != nil {
		b.Fatal(err)
	}
	gw := httptest.NewServer(f)
	defer gw.Close()

	for _, bc := range []struct{ name, url string }{{"direct", up.URL}, {"through", gw.URL}} {
		b.Run(bc.name, func(b *testing.B) {
			t := &http.Transport{MaxIdleConnsPerHost: 8}
			defer t.CloseIdleConnections()
			c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1.0.0"}, nil)
			cs, err := c.Connect(b.Context(), &mcp.StreamableClientTransport{Endpoint: bc.url, HTTPClient: &http.Client{Transport: t}}, &mcp.ClientSessionOptions{ProtocolVersion: load.DefaultProtocolVersion})
			if err != nil {
				b.Fatal(err)
			}
			defer cs.Close()
			params := &mcp.CallToolParams{Name: load.EchoTool, Arguments: json.RawMessage(`{"text":"hello"}`)}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				res, err := cs.CallTool(b.Context(), params)
				if err != nil || res.IsError {
					b.Fatalf("CallTool = %v, %v", res, err)
				}
			}
			// The process's CPU time per call, all goroutines counted: the
			// figure contention on the machine disturbs least.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
