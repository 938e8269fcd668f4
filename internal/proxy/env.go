package proxy

import "strings"

// upstreamEnv is the environment a stdio upstream starts with: the
// gateway's, less its own TOOLGATE_ variables (the admin token, store
// URLs), which a third-party server has no business reading.
func upstreamEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "TOOLGATE_") {
			out = append(out, kv)
		}
	}
	return out
}
