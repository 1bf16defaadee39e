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

// resident is a process's resident memory in bytes: all of it (VmRSS) and
// its anonymous part (RssAnon: heap, stacks and the runtime's own, without
// the pages of the executable it has touched).
type resident struct{ all, anon int64 }

func residentMemory(b *testing.B, pid int) resident {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	var m resident
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.all = kb * 1024
		case "RssAnon:":
			m.anon = kb * 1024
		}
	}
	if m.all == 0 || m.anon == 0 {
		b.Fatalf("no VmRSS or RssAnon for %d", pid)
	}
	return m
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
// database, per run: over all the runs, and for the worker also over the
// last four fifths (worker-next-*), started once the first fifth fills its
// sticky cache — what one more waiting run costs it. Run once: -benchtime
// 1x.
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
	// sample is what the worker, the server and the database hold now.
	type sample struct {
		worker, server resident
		heap, db       int64
	}
	measure := func() sample {
		return sample{residentMemory(b, w.cmd.Process.Pid), residentMemory(b, dev.cmd.Process.Pid),
			heapInUse(b, metricsAddr), dbSize(b, e.dataDir)}
	}
	// startWaiting starts runs from..to-1, 16 at a time, and returns once
	// every one waits.
	refs := make([]runs.Ref, n)
	startWaiting := func(from, to int) {
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
		for i := from; i < to; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		for left := waiting(refs[from:to]); len(left) > 0; left = waiting(left) {
			time.Sleep(time.Second)
		}
	}
	// The first fifth fills the sticky cache and brings the worker to its
	// working size; the rest shows what one more waiting run costs.
	m0, t0 := measure(), time.Now()
	mid := n / 5
	startWaiting(0, mid)
	m1 := measure()
	startWaiting(mid, n)
	allWaiting := time.Since(t0)
	m2 := measure()
	// measured: now make sure "nothing pending" meant the approval
	if _, st, err := rc.Status(ctx, refs[n-1]); err != nil || st.State != workflows.StateAwaitingApproval {
		b.Fatalf("run %s: %s %v, want it waiting for approval", refs[n-1].WorkflowID, st.State, err)
	}
	perRun := func(from, to int64, runs int) float64 { return float64(to-from) / float64(runs) }
	b.ReportMetric(perRun(m0.worker.all, m2.worker.all, n), "worker-B/run")
	b.ReportMetric(perRun(m0.worker.anon, m2.worker.anon, n), "worker-anon-B/run")
	b.ReportMetric(perRun(m0.heap, m2.heap, n), "worker-heap-B/run")
	b.ReportMetric(perRun(m1.worker.all, m2.worker.all, n-mid), "worker-next-B/run")
	b.ReportMetric(perRun(m1.worker.anon, m2.worker.anon, n-mid), "worker-next-anon-B/run")
	b.ReportMetric(perRun(m1.heap, m2.heap, n-mid), "worker-next-heap-B/run")
	b.ReportMetric(perRun(m0.server.all, m2.server.all, n), "server-B/run")
	b.ReportMetric(perRun(m0.db, m2.db, n), "db-B/run")
	b.ReportMetric(0, "ns/op")
	mib := func(s sample) string {
		return fmt.Sprintf("worker RSS %d MiB (anonymous %d, Go heap in use %d), server RSS %d MiB, database %d MiB",
			s.worker.all>>20, s.worker.anon>>20, s.heap>>20, s.server.all>>20, s.db>>20)
	}
	b.Logf("%d runs all waiting after %s\nbefore:         %s\nafter %5d:    %s\nafter %5d:    %s",
		n, allWaiting.Round(time.Second), mib(m0), mid, mib(m1), n, mib(m2))
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
