package release

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/sluice-cd/sluice/pipelines"
)

// BenchmarkUndo measures how long a failed release takes to give traffic
// back: blue-green switches the Services back to the color still running;
// rolling applies the previous manifests again and waits for the rollout
// (the baseline). Each iteration releases a new version first (not timed).
func BenchmarkUndo(b *testing.B) {
	for _, strategy := range []string{pipelines.Rolling, pipelines.BlueGreen} {
		b.Run(strategy, func(b *testing.B) {
			f := newFixture(b)
			ctx := context.Background()
			release := func(run, page string) {
				_, err := f.r.Release(ctx, Request{Pipeline: "web", Namespace: f.ns, Run: run, Commit: run, Digest: page,
					Strategy: strategy, Objects: app(b, f.image, page, false)}, io.Discard)
				if err != nil {
					b.Fatal(err)
				}
			}
			release("base", "base")
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				run := fmt.Sprintf("run-%d", i)
				release(run, run)
				b.StartTimer()
				if err := f.r.Undo(ctx, f.ns, "web", run, "bench", io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
