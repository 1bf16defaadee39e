package records_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/testenv/benchq"
	"github.com/sluice-cd/sluice/testenv/pgtest"
)

// fill records n finished runs over 20 repositories, each with five phase
// events and an approval, one started a minute after the other.
func fill(b *testing.B, s *records.Store, n int) {
	b.Helper()
	var wg sync.WaitGroup
	const writers = 8
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				write(b, s, i)
			}
		})
	}
	wg.Wait()
}

func write(b *testing.B, s *records.Store, i int) {
	ctx := context.Background()
	{
		at := t0.Add(time.Duration(i) * time.Minute)
		r := contract.RunRecord{WorkflowID: fmt.Sprintf("pipeline/acme/app%d:main", i%20), RunID: fmt.Sprintf("run-%07d", i),
			Project: fmt.Sprint("team", i%5), Repository: fmt.Sprintf("acme/app%d", i%20), Branch: "main", Commit: fmt.Sprintf("%040d", i),
			Author: "carol", State: []string{"succeeded", "failed", "succeeded", "rejected"}[i%4], Started: at, Finished: at.Add(5 * time.Minute), Seq: 2}
		for _, ph := range []string{"build", "test", "bake", "deploy", "approval"} {
			r.Events = append(r.Events, contract.RecordEvent{Key: "phase:" + ph, Kind: contract.EventPhase, Name: ph, Status: "succeeded", At: at})
		}
		r.Events = append(r.Events, contract.RecordEvent{Key: "approval:0", Kind: contract.EventApproval, Actor: "alice", Via: "slack", At: at.Add(4 * time.Minute)})
		if i%10 == 0 { // a release to production, every tenth run
			r.Events = append(r.Events, contract.RecordEvent{Key: "phase:production", Kind: contract.EventPhase, Name: "production",
				Status: []string{"succeeded", "failed"}[i/10%2], At: at.Add(4 * time.Minute), Finished: at.Add(5 * time.Minute)})
		}
		if err := s.WriteRun(ctx, r); err != nil {
			b.Error(err)
		}
	}
}

// BenchmarkList: `sluice list`'s query (the newest page of 50, and a page
// filtered by repository and state) over 100,000 runs, against the same
// queries over 1,000 (the baseline: how the cost grows with the records).
// p50 and p95 in ms.
func BenchmarkList(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, n := range []int{1000, 100000} {
			b.Run(fmt.Sprintf("%s/runs=%d", db, n), func(b *testing.B) {
				var s *records.Store
				if db == "sqlite" {
					s = open(b, filepath.Join(b.TempDir(), "records.db"), "")
				} else {
					pg := pgtest.Start(b)
					s = open(b, pg.URL("postgres"), pg.Password)
				}
				fill(b, s, n)
				for _, c := range []struct {
					name string
					f    records.Filter
				}{
					{"newest", records.Filter{Limit: 50}},
					{"filtered", records.Filter{Repository: "acme/app7", State: "rejected", Limit: 50}},
				} {
					b.Run(c.name, func(b *testing.B) {
						var ds []time.Duration
						for b.Loop() {
							start := time.Now()
							got, err := s.List(context.Background(), c.f)
							if err != nil || len(got) != 50 {
								b.Fatalf("%d runs, %v", len(got), err)
							}
							ds = append(ds, time.Since(start))
						}
						benchq.Report(b, ds)
					})
				}
			})
		}
	}
}

// BenchmarkDora: the DORA figures the server's metrics compute at every
// scrape, over a window that holds the newest 1,000 runs (100 releases to
// production), among 100,000 recorded runs against among 1,000 (the
// baseline: how the cost grows with the older records it must not read).
// p50 and p95 in ms.
func BenchmarkDora(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("sqlite/runs=%d", n), func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "records.db"), "")
			fill(b, s, n)
			// the window ends with the newest run
			now := t0.Add(time.Duration(n) * time.Minute)
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				keys, err := s.Dora(context.Background(), records.Filter{Since: now.Add(-1000 * time.Minute)}, now)
				if err != nil || len(keys) == 0 {
					b.Fatalf("%d keys, %v", len(keys), err)
				}
				ds = append(ds, time.Since(start))
			}
			benchq.Report(b, ds)
		})
	}
}
