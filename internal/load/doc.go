// Package load measures what the gateway costs: how many MCP tools/call round
// trips per second an endpoint sustains, and at what latency, over Streamable
// HTTP with real go-sdk client sessions.
//
// A comparison takes two runs against the same upstream, one reaching it
// directly and one through the gateway: [Run] drives one endpoint, [Compare]
// sets the two results side by side, and [NewUpstream] is a fast upstream to
// drive, so that the gateway rather than the upstream is what the difference
// measures.
package load
