package pool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv/poll"
)

func quantile(d []time.Duration, q float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
}

// BenchmarkClaimVsColdStart measures, side by side in one run on the same
// cluster and image, the time from asking for a build pod to the first
// command having run in it: claiming a warm pod of a pool, against
// creating a pod and waiting for it (what an agent-per-build CI does).
// Each iteration does one of each. lease-ms is the claim alone (the pod
// leased to the run), claim-ms includes the first command's exec.
func BenchmarkClaimVsColdStart(b *testing.B) {
	e := newEnv(b)
	p := e.pool(Spec{Name: "bench", Image: e.goBuilder(), MinIdle: 2, MaxTotal: 4}, "bench")
	e.keep(p)
	x := e.executor(p)
	ctx := context.Background()
	var claim, warm, cold []time.Duration
	for i := 0; b.Loop(); i++ {
		e.waitIdle(p, 1)
		start := time.Now()
		pod, _, err := p.Claim(ctx, fmt.Sprintf("warm-%d", i))
		if err != nil {
			b.Fatal(err)
		}
		claim = append(claim, time.Since(start))
		if _, err := x.Exec.output(ctx, e.ns, pod.Name, "true"); err != nil {
			b.Fatal(err)
		}
		warm = append(warm, time.Since(start))
		_ = p.Release(ctx, pod.Name)

		start = time.Now()
		name := coldStart(b, e, p.Spec, i)
		if _, err := x.Exec.output(ctx, e.ns, name, "true"); err != nil {
			b.Fatal(err)
		}
		cold = append(cold, time.Since(start))
		_ = e.client.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	}
	b.ReportMetric(quantile(claim, 0.5), "lease-ms-p50")
	b.ReportMetric(quantile(warm, 0.5), "claim-ms-p50")
	b.ReportMetric(quantile(warm, 0.99), "claim-ms-p99")
	b.ReportMetric(quantile(cold, 0.5), "cold-ms-p50")
	b.ReportMetric(quantile(cold, 0.99), "cold-ms-p99")
	b.ReportMetric(quantile(warm, 0.5)/quantile(cold, 0.5), "claim/cold-p50")
	b.ReportMetric(0, "ns/op")
}

// coldStart creates a pod like the pool's (not labelled as one) and
// returns once it is Ready.
func coldStart(b *testing.B, e *env, s Spec, i int) string {
	pod := podFor(s)
	pod.GenerateName, pod.Name = "", fmt.Sprintf("cold-%d", i)
	pod.Labels = map[string]string{"sluice.dev/bench": "cold"}
	ctx := context.Background()
	w, err := e.client.CoreV1().Pods(e.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod.Name})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	if _, err := e.client.CoreV1().Pods(e.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case ev := <-w.ResultChan():
			if p, ok := ev.Object.(*corev1.Pod); ok && ready(p) {
				return p.Name
			}
		case <-timeout:
			b.Fatalf("cold pod %s not Ready in 2m", pod.Name)
		}
	}
}

// BenchmarkPhaseOverhead is what a phase costs beyond its command: build
// (claim, copy the source in, run `true`) and test (run `true` in the same
// pod), then release — against the same two phases each in a cold pod of
// their own, started one after the other. Times are per pipeline, minus
// the commands' own time (`true` is ~0).
func BenchmarkPhaseOverhead(b *testing.B) {
	e := newEnv(b)
	p := e.pool(Spec{Name: "phases", Image: e.goBuilder(), MinIdle: 2, MaxTotal: 4}, "bench")
	e.keep(p)
	x := e.executor(p)
	repo, commit := gitsrctest.Repo(b, "../examples/hello", "")
	ctx := context.Background()
	var warm, cold []time.Duration
	for i := 0; b.Loop(); i++ {
		e.waitIdle(p, 1)
		warm = append(warm, twoPhases(b, x, fmt.Sprintf("run-%d", i), repo, commit))

		start := time.Now()
		for j := range 2 {
			name := coldStart(b, e, p.Spec, 2*i+j)
			if err := x.copySource(ctx, e.ns, name, executor.Checkout{CloneURL: repo, Commit: commit}); err != nil {
				b.Fatal(err)
			}
			if _, err := x.Exec.output(ctx, e.ns, name, "true"); err != nil {
				b.Fatal(err)
			}
			_ = e.client.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		}
		cold = append(cold, time.Since(start))
	}
	b.ReportMetric(quantile(warm, 0.5)/2, "warm-ms/phase-p50")
	b.ReportMetric(quantile(cold, 0.5)/2, "cold-ms/phase-p50")
	b.ReportMetric(quantile(warm, 0.5)/quantile(cold, 0.5), "warm/cold")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCacheBenefit builds a small Go program in one pod with an empty
// pool cache, then in a second pod of the same pool: the ratio is what the
// shared dependency cache saves.
func BenchmarkCacheBenefit(b *testing.B) {
	e := newEnv(b)
	src := b.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/tiny\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nimport (\n\t\"fmt\"\n\t\"strings\"\n)\n\nfunc main() { fmt.Println(strings.ToUpper(\"tiny\")) }\n"), 0o644)
	repo, commit := gitsrctest.Repo(b, src, "version: 1\n")
	ctx := context.Background()
	var first, second []time.Duration
	for i := 0; b.Loop(); i++ {
		cacheDir := filepath.Join("/var/cache/sluice-pool-bench", fmt.Sprintf("%s-%d", e.ns, i))
		p := e.pool(Spec{Name: fmt.Sprintf("cache%d", i), Image: e.goBuilder(), MinIdle: 2, MaxTotal: 2,
			Cache: &Cache{HostPath: cacheDir, Paths: []string{"/root/.cache/go-build", "/root/go/pkg/mod"}}}, "bench")
		stop := keepUntil(e, p)
		e.waitIdle(p, 2)
		x := e.executor(p)
		for j, into := range []*[]time.Duration{&first, &second} {
			h, err := x.Prepare(ctx, executor.Checkout{Key: fmt.Sprintf("run-%d-%d", i, j), CloneURL: repo, Commit: commit}, executor.Handle{})
			if err != nil {
				b.Fatal(err)
			}
			var out bytes.Buffer
			res, err := x.Run(ctx, h, executor.Command{Script: "go build -o /tmp/tiny ."}, &out)
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("%v %v %s", res, err, out.String())
			}
			*into = append(*into, res.Duration)
			_ = x.Release(ctx, h)
		}
		stop()
		os.RemoveAll(cacheDir)
	}
	b.ReportMetric(quantile(first, 0.5), "first-build-ms")
	b.ReportMetric(quantile(second, 0.5), "second-build-ms")
	b.ReportMetric(quantile(second, 0.5)/quantile(first, 0.5), "second/first")
	b.ReportMetric(0, "ns/op")
}

// keepUntil runs a keeper for p until the returned stop is called, and
// waits for the pool's pods to be gone after it.
func keepUntil(e *env, p *Pool) func() {
	ctx, cancel := context.WithCancel(context.Background())
	k := &Keeper{Client: e.client, Pools: []*Pool{p}, Identity: "bench-" + p.Spec.Name, LeaseNamespace: e.ns, Resync: 500 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); _ = k.Run(ctx) }()
	return func() {
		cancel()
		<-done
		_, _ = p.Drain(context.Background())
		poll.Until(e.t, "the pool's pods to be gone", func() bool {
			for _, pod := range e.pods(p) {
				if !strings.HasPrefix(pod.Name, "x") && pod.DeletionTimestamp == nil {
					return false
				}
			}
			return true
		})
	}
}

// twoPhases runs what a pipeline's build and test do in a claimed pod —
// claim and checkout, `true` twice, release — and returns how long it took.
func twoPhases(b *testing.B, x *Executor, key, repo, commit string) time.Duration {
	ctx := context.Background()
	start := time.Now()
	h, err := x.Prepare(ctx, executor.Checkout{Key: key, CloneURL: repo, Commit: commit}, executor.Handle{})
	if err != nil {
		b.Fatal(err)
	}
	for range 2 { // build, test
		if res, err := x.Run(ctx, h, executor.Command{Script: "true"}, &bytes.Buffer{}); err != nil || res.ExitCode != 0 {
			b.Fatal(res, err)
		}
	}
	if err := x.Release(ctx, h); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
