package main

import "testing"

func TestTimingVerdict(t *testing.T) {
	atMost := func(v float64) bool { return v <= 0.35 }
	for _, tc := range []struct {
		lo, hi float64
		n      int
		want   string
	}{
		{0.30, 0.34, 6, "met"},
		{0.36, 0.44, 6, "**missed**"},
		{0.33, 0.39, 6, "not shown (inside the spread)"},
		{0.30, 0.31, 2, "not shown (2 runs, 3 needed)"},
	} {
		if got := timingVerdict(tc.lo, tc.hi, tc.n, atMost); got != tc.want {
			t.Errorf("timingVerdict(%.2f–%.2f, %d runs) = %q, want %q", tc.lo, tc.hi, tc.n, got, tc.want)
		}
	}
}
