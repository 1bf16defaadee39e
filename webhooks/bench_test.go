package webhooks_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// BenchmarkWebhookAck measures how long a signed GitHub push takes to be
// answered 202: verification, parsing, reading .sluice.yml at the commit
// (a new commit each time; the commit is made outside the measurement),
// and the durable start of the delivery's Dispatch workflow on the embedded
// server. The baseline is a request the receiver rejects at once (bad
// signature), i.e. HTTP and verification alone.
func BenchmarkWebhookAck(b *testing.B) {
	s := newStack(b)
	measure := func(b *testing.B, secret string, want int) {
		var ds []time.Duration
		for i := 0; b.Loop(); i++ {
			// a new commit each time: a commit already accepted on its
			// branch is answered 200 "duplicate" without a start
			os.WriteFile(filepath.Join(s.dirs["github"], "bench.txt"), fmt.Appendf(nil, "%d\n", i), 0o644)
			body := payload(b, "github", gitsrctest.Commit(b, s.dirs["github"], "bench"))
			h := signed("github", secret, fmt.Sprintf("bench-%d-%d", i, time.Now().UnixNano()), body)
			req, _ := http.NewRequest(http.MethodPost, s.url+"/hooks/github", bytes.NewReader(body))
			req.Header = h
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ds = append(ds, time.Since(start))
			if resp.StatusCode != want {
				b.Fatalf("status %d, want %d", resp.StatusCode, want)
			}
		}
		slices.Sort(ds)
		ms := func(p float64) float64 {
			return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
		}
		b.ReportMetric(ms(0.5), "ms-p50")
		b.ReportMetric(ms(0.99), "ms-p99")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("rejected-baseline", func(b *testing.B) { measure(b, "wrong-secret", http.StatusUnauthorized) })
	b.Run("accepted", func(b *testing.B) { measure(b, s.secrets["github"], http.StatusAccepted) })
}
