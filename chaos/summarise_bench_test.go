package chaos

import (
	"testing"
	"time"
)

// BenchmarkSummarise summarises an hour-long probe at 50 requests a second
// (180,000 samples) with an outage every 20 seconds (180 error windows):
// the work the prober does for every heartbeat.
func BenchmarkSummarise(b *testing.B) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	samples := make([]sample, 180_000)
	for i := range samples {
		samples[i] = sample{at: t0.Add(time.Duration(i) * 20 * time.Millisecond), latency: time.Millisecond}
		if i%1000 < 10 {
			samples[i].err = "connection refused"
		}
	}
	for b.Loop() {
		o := summarise(samples, t0, t0.Add(time.Hour), 20*time.Millisecond)
		if len(o.Windows) != 180 {
			b.Fatalf("%d windows", len(o.Windows))
		}
	}
}
