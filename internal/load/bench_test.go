package load

import (
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkCallTool measures one tools/call round trip of the driver against
// NewUpstream over loopback HTTP: client, server and the network stack, all
// in this process.
func BenchmarkCallTool(b *testing.B) {
	srv := newUpstream(b)
	o, err := Options{URL: srv.URL, Sessions: 1}.normalize()
	if err != nil {
		b.Fatal(err)
	}
	httpClient, closeIdle := o.httpClient()
	defer closeIdle()
	args, err := json.Marshal(o.Args)
	if err != nil {
		b.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1.0.0"}, nil)
	cs, err := client.Connect(b.Context(), &mcp.StreamableClientTransport{Endpoint: o.URL, HTTPClient: httpClient}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := newSession(b.Context(), cs, o.Tool, args, o.CallTimeout)
	defer s.close()

	b.ReportAllocs()
	for b.Loop() {
		if _, out, err := s.call(b.Context()); out != callOK {
			b.Fatalf("call: %v", err)
		}
	}
}
