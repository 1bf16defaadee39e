package main

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/executor/stepguard"
)

// BenchmarkStepGuard: what the guard that ends a killed worker's steps
// adds to starting a local step command — the sluice binary executed as
// the guard, running `sh -c true` — against the shell started directly
// (the baseline). p50 in ms.
func BenchmarkStepGuard(b *testing.B) {
	bin := sluiceBin(b)
	for _, c := range []struct {
		name string
		cmd  func() *exec.Cmd
	}{
		{"baseline-sh", func() *exec.Cmd { return exec.Command("/bin/sh", "-c", "true") }},
		{"guarded", func() *exec.Cmd {
			cmd := &exec.Cmd{Path: bin, Args: []string{stepguard.Name, "true"}}
			cmd.Env = append(os.Environ(), stepguard.ParentEnv+"="+strconv.Itoa(os.Getpid()))
			return cmd
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				if err := c.cmd().Run(); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(start))
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "ms-p50")
			b.ReportMetric(0, "ns/op")
		})
	}
}
