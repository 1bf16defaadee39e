package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// rss is a process's resident memory in bytes.
func rss(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	b.Fatalf("no VmRSS for %d", pid)
	return 0
}

// dbSize is the embedded server's SQLite database with its write-ahead log.
func dbSize(b *testing.B, dir string) int64 {
	var n int64
	for _, f := range []string{"temporal.db", "temporal.db-wal"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil {
			n += st.Size()
		}
	}
	return n
}

// BenchmarkWaitingRuns measures what runs waiting for approval cost: it
// starts SLUICE_WAITING_RUNS (default 10,000) runs of a pipeline whose
// only phase is approval on `sluice dev --worker=false` and one `sluice
// worker` process (its default --sticky-cache, or
// SLUICE_WAITING_STICKY_CACHE), waits until every one waits, and reports
// the growth of the worker's and the server's resident memory and of the
// database, per run. Run once: -benchtime 1x.
func BenchmarkWaitingRuns(b *testing.B) {
	n := 10000
	if v := os.Getenv("SLUICE_WAITING_RUNS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	e := newEnv(b)
	dev := e.startDev("--worker=false")
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	args := []string{"worker", "--data-dir", e.dataDir, "--metrics-addr", metricsAddr}
	if v := os.Getenv("SLUICE_WAITING_STICKY_CACHE"); v != "" {
		args = append(args, "--sticky-cache", v)
	}
	w := e.start(args...)
	c, err := client.Dial(client.Options{HostPort: e.temporalAddress()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rc := &runs.Client{Temporal: c}
	spec, err := pipelines.Parse(".sluice.yml", []byte("version: 1\napproval: {approvers: {users: [alice]}, timeout: 30d}\n"), "wait")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := func(i int) runs.Ref {
		st, err := rc.Start(ctx, workflows.Request{Spec: *spec, Push: workflows.Push{
			Repo: fmt.Sprintf("acme/app-%05d", i), CloneURL: "/repos/app", Branch: "main",
			Commit: fmt.Sprintf("%040x", i), Author: "carol@example.com", DeliveryID: fmt.Sprintf("d-%d", i),
		}})
		if err != nil {
			b.Fatal(err)
		}
		return st.Ref
	}
	waiting := func(refs []runs.Ref) []runs.Ref {
		var mu sync.Mutex
		var left []runs.Ref
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, r := range refs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if !devservertest.Idle(ctx, c, r.WorkflowID, r.RunID) {
					mu.Lock()
					left = append(left, r)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return left
	}
	// one run first: the worker is polling and warm
	for left := []runs.Ref{start(-1)}; len(left) > 0; left = waiting(left) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // let the first run's tasks settle before measuring, not a synchronisation
	w0, s0, d0 := rss(b, w.cmd.Process.Pid), rss(b, dev.cmd.Process.Pid), dbSize(b, e.dataDir)
	h0 := heapInUse(b, metricsAddr)

	t0 := time.Now()
	refs := make([]runs.Ref, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				refs[i] = start(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	started := time.Since(t0)
	left := refs
	for left = waiting(left); len(left) > 0; left = waiting(left) {
		time.Sleep(time.Second)
	}
	allWaiting := time.Since(t0)
	w1, s1, d1 := rss(b, w.cmd.Process.Pid), rss(b, dev.cmd.Process.Pid), dbSize(b, e.dataDir)
	h1 := heapInUse(b, metricsAddr)
	// measured: now make sure "nothing pending" meant the approval
	if _, st, err := rc.Status(ctx, refs[n-1]); err != nil || st.State != workflows.StateAwaitingApproval {
		b.Fatalf("run %s: %s %v, want it waiting for approval", refs[n-1].WorkflowID, st.State, err)
	}
	b.ReportMetric(float64(w1-w0)/float64(n), "worker-B/run")
	b.ReportMetric(float64(h1-h0)/float64(n), "worker-heap-B/run")
	b.ReportMetric(float64(s1-s0)/float64(n), "server-B/run")
	b.ReportMetric(float64(d1-d0)/float64(n), "db-B/run")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d runs started in %s, all waiting after %s; worker RSS %d -> %d MiB (Go heap in use %d -> %d MiB), server RSS %d -> %d MiB, database %d -> %d MiB",
		n, started.Round(time.Second), allWaiting.Round(time.Second), w0>>20, w1>>20, h0>>20, h1>>20, s0>>20, s1>>20, d0>>20, d1>>20)
}

// heapInUse is go_memstats_heap_inuse_bytes from a worker's /metrics.
func heapInUse(b *testing.B, addr string) int64 {
	b.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
	}
	b.Fatal("no go_memstats_heap_inuse_bytes in the worker's metrics")
	return 0
}
