package main

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWorkerStart measures `sluice worker` from its exec to its
// "worker started" log line (its SDK worker made, about to poll) against
// `sluice dev --worker=false`. The baseline is the same executable with
// its Go build ID note blanked: the SDK then reads and checksums the whole
// executable to name the binary, as every worker start did before a
// worker named it by its build ID (worker.nameBinary).
func BenchmarkWorkerStart(b *testing.B) {
	e := newEnv(b)
	e.startDev("--worker=false")
	blank := blankBuildID(b, e.bin)
	var p50 [2]float64
	for i, c := range []struct{ name, bin string }{{"baseline-checksum", blank}, {"build-id", e.bin}} {
		b.Run(c.name, func(b *testing.B) {
			var ds []float64
			for b.Loop() {
				ds = append(ds, workerStart(b, e, c.bin).Seconds()*1000)
			}
			slices.Sort(ds)
			p50[i] = ds[len(ds)/2]
			b.ReportMetric(p50[i], "ms-p50")
			b.ReportMetric(0, "ns/op")
		})
	}
	if p50[0] > 0 {
		b.Logf("build-id / checksum p50: %.2f", p50[1]/p50[0])
	}
}

// workerStart starts `sluice worker` from bin and returns how long it
// took to log that it started; the process is killed after.
func workerStart(b *testing.B, e *env, bin string) time.Duration {
	run := *e
	run.bin = bin
	start := time.Now()
	p := run.start("worker", "--data-dir", e.dataDir)
	defer p.kill(syscall.SIGKILL)
	for !strings.Contains(p.out.String(), `"worker started"`) {
		if time.Since(start) > time.Minute || p.exited() {
			b.Fatalf("sluice worker did not start:\n%s", p.out.String())
		}
		time.Sleep(2 * time.Millisecond) // polling the log, not waiting for it
	}
	return time.Since(start)
}

// blankBuildID copies the executable with the owner of its Go build ID
// note zeroed, so the note is not found.
func blankBuildID(b *testing.B, bin string) string {
	data, err := os.ReadFile(bin)
	if err != nil {
		b.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	s := f.Section(".note.go.buildid")
	if s == nil {
		b.Fatal("no .note.go.buildid in " + bin)
	}
	owner := data[s.Offset+12 : s.Offset+16]
	if string(owner) != "Go\x00\x00" {
		b.Fatalf("build ID note owner %q", owner)
	}
	copy(owner, "\x00\x00\x00\x00")
	out := filepath.Join(b.TempDir(), "sluice-checksummed")
	if err := os.WriteFile(out, data, 0o755); err != nil {
		b.Fatal(err)
	}
	return out
}
