package proxy

import (
	"slices"
	"testing"
)

func TestUpstreamEnvDropsGatewaySecrets(t *testing.T) {
	got := upstreamEnv([]string{"PATH=/bin", "TOOLGATE_ADMIN_TOKEN=tga_x", "HOME=/root", "TOOLGATE_POSTGRES_URL=postgres://x", "MY_TOOLGATE_X=kept"})
	if want := []string{"PATH=/bin", "HOME=/root", "MY_TOOLGATE_X=kept"}; !slices.Equal(got, want) {
		t.Errorf("upstreamEnv = %q; want %q", got, want)
	}
}
