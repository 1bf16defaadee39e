package records_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/records"
)

// h is t0 plus n hours.
func h(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Hour))) }

// TestDora: the four keys over a week of two pipelines. shop: five good
// releases (two rolled back while live, 2 h and 1 h later), one failed
// release (undone in 10 min), one without a commit time (lead time from
// its push), one outside the window; a rollback counts against the
// release live at the time, not an earlier one.
func TestDora(t *testing.T) {
	rel := func(committed, started, finished float64, ok bool) records.Release {
		return records.Release{Pipeline: "shop", Committed: h(committed), Pushed: h(committed + 0.5), Started: h(started), Finished: h(finished), Succeeded: ok}
	}
	releases := []records.Release{
		rel(0, 1, 2, true),           // lead 2 h
		rel(10, 13, 14, true),        // lead 4 h; rolled back at 16 → restore 2 h
		rel(20, 21, 21+1.0/6, false), // failed; undone in 10 min
		rel(30, 35, 36, true),        // lead 6 h
		rel(40, 47, 48, true),        // lead 8 h
		{Pipeline: "shop", Pushed: h(50), Started: h(51), Finished: h(52), Succeeded: true}, // no commit time: lead from the push, 2 h
		// outside the window
		rel(-50, -49, -48, false),
		// another pipeline
		{Pipeline: "cart", Committed: h(0), Started: h(1), Finished: h(3), Succeeded: true},
		// another project's pipeline of the same name (a spec names its
		// pipeline): kept apart
		{Project: "search", Pipeline: "shop", Committed: h(0), Started: h(1), Finished: h(2), Succeeded: false},
	}
	rollbacks := []records.Rollback{
		{Pipeline: "shop", At: h(16)},
		// the release at 48 is live (the release at 36 was replaced by
		// it): 48's failure, not 36's
		{Pipeline: "shop", At: h(49)},
		{Pipeline: "cart", At: h(-10)}, // before cart's release: nothing
		{Project: "search", Pipeline: "shop", At: h(3)},
	}
	keys := records.Dora(releases, rollbacks, t0, t0.Add(7*24*time.Hour))
	if len(keys) != 3 || keys[0].Pipeline != "cart" || keys[1].Pipeline != "shop" || keys[2].Project != "search" {
		t.Fatalf("keys %+v, want cart's, shop's and search's shop", keys)
	}
	if other := keys[2]; other.Releases != 1 || other.Failures != 1 || other.Deployments != 0 {
		t.Errorf("search's shop %+v, want its one failed release alone", other)
	}
	cart, shop := keys[0], keys[1]
	if cart.Deployments != 1 || cart.Failures != 0 || cart.LeadTime != 3*time.Hour || cart.ChangeFailureRate != 0 || cart.TimeToRestore != 0 {
		t.Errorf("cart %+v", cart)
	}
	// shop: 5 deployments of 6 releases; failures: the release at 14
	// (rolled back at 16), the failed one, the release at 48 (rolled back
	// at 49) = 3 of 6
	if shop.Deployments != 5 || shop.Releases != 6 || shop.Failures != 3 {
		t.Errorf("shop deployments %d, releases %d, failures %d; want 5, 6, 3", shop.Deployments, shop.Releases, shop.Failures)
	}
	if shop.ChangeFailureRate != 0.5 {
		t.Errorf("change failure rate %v, want 0.5", shop.ChangeFailureRate)
	}
	if want := 5.0 / 7; shop.PerDay != want {
		t.Errorf("deployments per day %v, want %v", shop.PerDay, want)
	}
	// leads 2, 4, 6, 8, 2 h → median 4 h
	if shop.LeadTime != 4*time.Hour {
		t.Errorf("lead time %s, want 4h", shop.LeadTime)
	}
	// restores 2 h, 10 min, 1 h → median 1 h
	if shop.TimeToRestore != time.Hour {
		t.Errorf("time to restore %s, want 1h", shop.TimeToRestore)
	}
}

// TestDoraFromRecords: the store reads production releases and rollbacks
// from the run records (of the projects asked for) and gives the same
// answer.
func TestDoraFromRecords(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "records.db"), "")
	write := func(r contract.RunRecord) {
		if err := s.WriteRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	prod := func(id string, committed, started, finished float64, status string) {
		write(contract.RunRecord{Kind: contract.RecordPipeline, WorkflowID: "pipeline/acme/shop:main", RunID: id, Pipeline: "shop", Project: "payments",
			Repository: "acme/shop", Branch: "main", Commit: id, Committed: h(committed), State: status, Started: h(committed + 0.1), Finished: h(finished), Seq: 2,
			Events: []contract.RecordEvent{{Key: "phase:production", Kind: contract.EventPhase, Name: "production", Status: status, At: h(started), Finished: h(finished)}}})
	}
	prod("r1", 0, 1, 2, "succeeded")
	prod("r2", 10, 13, 14, "succeeded")
	prod("r3", 20, 21, 22, "failed")
	// a run that never reached production does not count
	write(contract.RunRecord{Kind: contract.RecordPipeline, WorkflowID: "pipeline/acme/shop:main", RunID: "r4", Pipeline: "shop", Project: "payments",
		Repository: "acme/shop", Branch: "main", Commit: "r4", State: "failed", Started: h(30), Finished: h(31), Seq: 2,
		Events: []contract.RecordEvent{{Key: "phase:build", Kind: contract.EventPhase, Name: "build", Status: "failed", At: h(30)}}})
	write(contract.RunRecord{Kind: contract.RecordRollback, WorkflowID: "rollback/shop-prod/shop", RunID: "rb1", Pipeline: "shop", Project: "payments",
		State: "succeeded", Environment: "production", Started: h(15.5), Finished: h(16), Seq: 1})
	keys, err := s.Dora(ctx, records.Filter{Since: t0, Before: t0.Add(24 * time.Hour)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Releases != 3 || keys[0].Deployments != 2 || keys[0].Failures != 2 || keys[0].LeadTime != 3*time.Hour ||
		keys[0].TimeToRestore != 90*time.Minute {
		t.Errorf("keys %+v; want 3 releases, 2 deployments, 2 failures, lead 3h, restore 1h30", keys)
	}
	if keys, err := s.Dora(ctx, records.Filter{Since: t0, Before: t0.Add(24 * time.Hour), Projects: []string{"search"}}, time.Now()); err != nil || len(keys) != 0 {
		t.Errorf("another project's reader: %+v %v", keys, err)
	}
}
