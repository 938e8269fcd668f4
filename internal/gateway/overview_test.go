package gateway

import (
	"testing"
	"time"
)

func TestActivityWindows(t *testing.T) {
	var a activity
	t0 := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	a.add("s", t0.Add(-2*time.Hour), true) // long gone; its slot is reused below
	a.add("s", t0.Add(-59*time.Minute), false)
	a.add("s", t0.Add(-61*time.Minute), true) // outside the hour
	a.add("s", t0.Add(-time.Minute), true)
	a.add("s", t0, false)
	a.add("s", t0, true)
	a.add("other", t0, true)
	for _, tc := range []struct {
		span                time.Duration
		wantCalls, wantDeny int64
	}{
		{time.Minute, 2, 1},
		{2 * time.Minute, 3, 2},
		{time.Hour, 4, 2},
	} {
		if c, d := a.since("s", t0, tc.span); c != tc.wantCalls || d != tc.wantDeny {
			t.Errorf("since(%v) = %d calls, %d denials; want %d, %d", tc.span, c, d, tc.wantCalls, tc.wantDeny)
		}
	}
	if c, d := a.since("none", t0, time.Hour); c != 0 || d != 0 {
		t.Errorf("since(unknown server) = %d, %d", c, d)
	}
}
