package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/pool"
)

// BenchmarkJobsPhase runs examples/monorepo's api pipeline on the platform
// (vet and a 2×2 matrix of unit tests side by side in pool pods, then
// shuffle once the matrix passed) and reports, as medians over its runs,
// the test phase's wall time against its critical path (the longest of
// the first cells plus shuffle) and against the sum of its cells (one
// sequential list's time). Each run starts with four idle pods, as a
// pool sized for its load would have.
func BenchmarkJobsPhase(b *testing.B) {
	e, repo := jobsSetup(b)
	var phase, path, sum []float64
	for b.Loop() {
		b.StopTimer()
		e.waitIdlePods(4)
		b.StartTimer()
		var started struct {
			RunID string `json:"run_id"`
		}
		if code := e.json(&started, "run", "--repo", repo, "--ref", "main", "--pipeline", "api"); code != 0 {
			b.Fatal("run failed to start")
		}
		if out, _, code := e.sluice("status", started.RunID, "--wait"); code != 0 {
			b.Fatalf("run failed:\n%s", out)
		}
		var st jobsStatus
		e.json(&st, "status", started.RunID)
		var first, after, total time.Duration
		for _, j := range st.Jobs {
			d := j.Finished.Sub(j.Started)
			total += d
			if j.Name == "shuffle" {
				after = d
			} else {
				first = max(first, d)
			}
		}
		for _, p := range st.Phases {
			if p.Name == "test" {
				phase = append(phase, p.Finished.Sub(p.Started).Seconds())
			}
		}
		path = append(path, (first + after).Seconds())
		sum = append(sum, total.Seconds())
	}
	b.ReportMetric(median(phase), "phase-s-p50")
	b.ReportMetric(median(path), "critical-path-s-p50")
	b.ReportMetric(median(sum), "sum-of-cells-s-p50")
	b.ReportMetric(median(phase)/median(path), "phase/critical-path")
	b.ReportMetric(median(phase)/median(sum), "phase/sum-of-cells")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// waitIdlePods waits until the go pool has n idle pods.
func (e *poolEnv) waitIdlePods(n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		list, err := e.client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: pool.LabelPool + "=go," + pool.LabelState + "=" + pool.StateIdle})
		if err != nil {
			e.t.Fatal(err)
		}
		ready := 0
		for _, p := range list.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" && p.DeletionTimestamp == nil {
					ready++
				}
			}
		}
		if ready >= n {
			return
		}
		w, err := e.client.CoreV1().Pods(e.ns).Watch(ctx, metav1.ListOptions{LabelSelector: pool.LabelPool + "=go", ResourceVersion: list.ResourceVersion})
		if err != nil {
			e.t.Fatalf("waiting for %d idle pods (%d): %v", n, ready, strings.TrimSpace(err.Error()))
		}
		select {
		case <-w.ResultChan():
		case <-ctx.Done():
			w.Stop()
			e.t.Fatalf("the pool has %d idle pods after 3 minutes, want %d", ready, n)
		}
		w.Stop()
	}
}
