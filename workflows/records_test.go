package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// TestRunRecords: a run writes its record as it starts and as it ends;
// the final one has every phase, the refused decision and the approval,
// with who and how. A records database away for a while delays the
// records, loses none, and does not fail the run.
func TestRunRecords(t *testing.T) {
	for _, failures := range []int{0, 4} {
		h := newHarness(t)
		h.recordFailures = failures
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "carol", Via: "slack"})
		h.decideAt(t, 2*time.Hour, UpdateApprove, Decision{User: "alice", Comment: "ship it", Via: "api-token:alice"})
		in := approvalOnly(t, 1)
		in.Policy = &contract.Governance{Project: "payments", Withheld: []contract.Withheld{{Phase: pipelines.PhaseProduction, Reason: "branch main is not protected"}}}
		in.Skipped = []pipelines.Skip{{Phase: pipelines.PhaseIntegration, Rule: "integration.when: branch x not in branches [main]"}}
		h.env.ExecuteWorkflow(Pipeline, in)
		st, err := h.result(t)
		if err != nil || st.State != StateSucceeded {
			t.Fatalf("state %s err %v", st.State, err)
		}
		recs := h.runRecords
		if len(recs) != 2 {
			t.Fatalf("%d records written (with %d failures), want 2: %+v", len(recs), failures, recs)
		}
		first, last := recs[0], recs[1]
		if first.State != StateRunning || first.Seq != 1 || first.RunID == "" || first.WorkflowID == "" || first.Commit != in.Push.Commit || first.Project != "payments" {
			t.Errorf("first record %+v, want the run starting", first)
		}
		if last.State != StateSucceeded || last.Seq != 2 || last.Finished.IsZero() || last.RunID != first.RunID {
			t.Errorf("last record %+v, want the run succeeded", last)
		}
		kinds := map[string]contract.RecordEvent{}
		for _, e := range last.Events {
			kinds[e.Key] = e
		}
		if e := kinds["phase:build"]; e.Status != PhaseSucceeded || e.At.IsZero() || e.Finished.IsZero() {
			t.Errorf("build's event %+v", e)
		}
		if e := kinds["refusal:0"]; e.Kind != contract.EventRefusal || e.Actor != "carol" || e.Via != "slack" || e.Detail != RefusedAuthor {
			t.Errorf("refusal's event %+v, want carol refused as the author", e)
		}
		if e := kinds["approval:0"]; e.Kind != contract.EventApproval || e.Actor != "alice" || e.Via != "api-token:alice" || e.Detail != "ship it" {
			t.Errorf("approval's event %+v", e)
		}
		if e := kinds["withheld:production"]; e.Kind != contract.EventWithheld || e.Detail == "" {
			t.Errorf("withheld event %+v", e)
		}
		if e := kinds["skipped:integration"]; e.Kind != contract.EventSkipped || !strings.Contains(e.Detail, "integration.when") {
			t.Errorf("skipped event %+v", e)
		}
	}
}
