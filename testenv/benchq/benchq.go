// Package benchq reports the quantiles of a benchmark's measured
// durations, the way Sluice's benchmarks state speed: medians and tails in
// milliseconds, compared with a baseline measured in the same run.
package benchq

import (
	"slices"
	"testing"
	"time"
)

// Millis is the q quantile (0 ≤ q ≤ 1) of ds in milliseconds; ds is not
// changed.
func Millis(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
}

// Report reports the p50 and p95 of ds in ms in place of ns/op.
func Report(b *testing.B, ds []time.Duration) {
	b.ReportMetric(Millis(ds, 0.5), "ms-p50")
	b.ReportMetric(Millis(ds, 0.95), "ms-p95")
	b.ReportMetric(0, "ns/op")
}
