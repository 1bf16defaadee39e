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

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// BenchmarkWebhookAck measures how long a signed GitHub push takes to be
// answered 202: verification, parsing, reading .sluice.yml at the commit
// (a new commit each time; the commit is made outside the measurement),
// and the durable start of the delivery's Dispatch workflow on the embedded
// server. The baseline is a request the receiver rejects at once (bad
// signature), i.e. HTTP and verification alone. "accepted-under-policy"
// is "accepted" on a server whose projects govern the repository: the
// added cost of the policy's evaluation per delivery.
func BenchmarkWebhookAck(b *testing.B) {
	s := newStack(b)
	b.Run("rejected-baseline", func(b *testing.B) { ackTimes(b, s, "wrong-secret", http.StatusUnauthorized) })
	b.Run("accepted", func(b *testing.B) { ackTimes(b, s, s.secrets["github"], http.StatusAccepted) })
	governed, err := config.Parse("projects.yml", []byte(`projects:
  - name: hello
    repositories: [acme/gh, acme/gl, acme/gt]
    environments:
      test: {branches: ["*"]}
      production: {branches: [main], namespaces: [hello-prod]}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	// with and without the policy in turn, so both see the same load
	// (every accepted push starts a run on the worker beside the server)
	b.Run("accepted-with-and-without-policy", func(b *testing.B) {
		var plain, governedTimes []time.Duration
		for i := 0; b.Loop(); i++ {
			s.cfg.Projects = nil
			if i%2 == 1 {
				s.cfg.Projects = governed.Projects
			}
			d := ack(b, s, i, s.secrets["github"], http.StatusAccepted)
			if i%2 == 1 {
				governedTimes = append(governedTimes, d)
			} else {
				plain = append(plain, d)
			}
		}
		a, g := p50ms(plain), p50ms(governedTimes)
		b.ReportMetric(a, "ms-p50-without")
		b.ReportMetric(g, "ms-p50-with-policy")
		b.ReportMetric(g/a, "ratio")
		b.ReportMetric(0, "ns/op")
	})
	// a spec with on.paths and a phase's when.paths against one without,
	// in turn: the added cost of reading what the push changed (a local
	// repository; a remote one adds a fetch of up to 64 commits)
	b.Run("accepted-with-and-without-paths", func(b *testing.B) {
		s.cfg.Projects = nil
		dir := s.dirs["github"]
		before := gitsrctest.Git(b, dir, "rev-parse", "HEAD")
		if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
			b.Fatal(err)
		}
		var plain, paths []time.Duration
		for i := 0; b.Loop(); i++ {
			spec := rulesFree
			if i%2 == 1 {
				spec = rulesWithPaths
			}
			os.WriteFile(filepath.Join(dir, ".sluice.yml"), []byte(spec), 0o644)
			os.WriteFile(filepath.Join(dir, "src", "bench.txt"), fmt.Appendf(nil, "%d-%d\n", i, time.Now().UnixNano()), 0o644)
			after := gitsrctest.Commit(b, dir, "bench")
			d := post(b, s, githubPush("refs/heads/main", before, after), http.StatusAccepted)
			before = after
			if i%2 == 1 {
				paths = append(paths, d)
			} else {
				plain = append(plain, d)
			}
		}
		a, w := p50ms(plain), p50ms(paths)
		b.ReportMetric(a, "ms-p50-without")
		b.ReportMetric(w, "ms-p50-with-paths")
		b.ReportMetric(w/a, "ratio")
		b.ReportMetric(0, "ns/op")
	})
}

const (
	rulesFree      = "version: 1\non: {branches: [main]}\nbuild: {commands: [\"true\"]}\ntest: {commands: [\"true\"]}\n"
	rulesWithPaths = "version: 1\non: {branches: [main], paths: [\"src/**\", go.mod]}\nbuild: {commands: [\"true\"]}\ntest: {commands: [\"true\"], when: {paths: [\"**/*.go\"]}}\n"
)

// p50ms is the median of ds in milliseconds.
func p50ms(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Microseconds()) / 1000
}

// post sends a signed GitHub push and times its answer.
func post(b *testing.B, s *stack, body []byte, want int) time.Duration {
	return send(b, s, signed("github", s.secrets["github"], fmt.Sprintf("bench-%d", time.Now().UnixNano()), body), body, want)
}

// ackTimes sends signed pushes of new commits and reports the median and
// p99 of their answers.
func ackTimes(b *testing.B, s *stack, secret string, want int) {
	var ds []time.Duration
	for i := 0; b.Loop(); i++ {
		ds = append(ds, ack(b, s, i, secret, want))
	}
	slices.Sort(ds)
	ms := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(0.5), "ms-p50")
	b.ReportMetric(ms(0.99), "ms-p99")
	b.ReportMetric(0, "ns/op")
}

// ack sends one signed push of a new commit (made outside the
// measurement: a commit already accepted on its branch is answered 200
// "duplicate" without a start) and times its answer.
func ack(b *testing.B, s *stack, i int, secret string, want int) time.Duration {
	os.WriteFile(filepath.Join(s.dirs["github"], "bench.txt"), fmt.Appendf(nil, "%d-%d\n", i, time.Now().UnixNano()), 0o644)
	body := payload(b, "github", gitsrctest.Commit(b, s.dirs["github"], "bench"))
	return send(b, s, signed("github", secret, fmt.Sprintf("bench-%d-%d", i, time.Now().UnixNano()), body), body, want)
}

// send posts body with headers h to the GitHub receiver and times its answer.
func send(b *testing.B, s *stack, h http.Header, body []byte, want int) time.Duration {
	req, _ := http.NewRequest(http.MethodPost, s.url+"/hooks/github", bytes.NewReader(body))
	req.Header = h
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != want {
		b.Fatalf("status %d, want %d", resp.StatusCode, want)
	}
	return d
}
