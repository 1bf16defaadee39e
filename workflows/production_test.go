package workflows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

func blueGreenSpec(t *testing.T) pipelines.Spec {
	t.Helper()
	s := fullSpec(t)
	s.Environments.Production.Strategy = pipelines.BlueGreen
	s.Production.Grace = pipelines.Duration(10 * time.Minute)
	s.Production.Verify = &pipelines.Verify{Image: "127.0.0.1:5000/it", Commands: []string{"./smoke"}, Timeout: pipelines.Duration(time.Minute)}
	return s
}

// TestReleaseInputAndUndo checks what the release is told and that its
// undo names the run's release in the production namespace.
func TestReleaseInputAndUndo(t *testing.T) {
	h := newHarness(t)
	h.failAt = pipelines.PhaseProduction
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, input(blueGreenSpec(t)))
	if _, err := h.result(t); err == nil {
		t.Fatal("want the failed release to fail the run")
	}
	in := h.input("Production").(contract.ProductionInput)
	if in.Pipeline != "hello" || in.Strategy != pipelines.BlueGreen || in.VerifyImage != "127.0.0.1:5000/it" || in.VerifyTimeout != time.Minute || !slices.Equal(in.Verify, []string{"./smoke"}) {
		t.Fatalf("production input %+v", in)
	}
	undo := h.input("undo:UndoRelease").(contract.ReleaseRef)
	if undo.Pipeline != "hello" || undo.Namespace != "hello" || undo.RunID == "" {
		t.Fatalf("undo %+v", undo)
	}
}

// TestBlueGreenKeepsOldColorForGrace: after the switch the replaced color
// is retired only when production.grace has passed, and a cancel inside
// the grace window switches back (UndoRelease) instead.
func TestBlueGreenKeepsOldColorForGrace(t *testing.T) {
	t.Run("retired after grace", func(t *testing.T) {
		h := newHarness(t)
		h.release = contract.ProductionResult{Revision: "4", Previous: 3, Color: "green"}
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
		h.env.ExecuteWorkflow(Pipeline, input(blueGreenSpec(t)))
		st, err := h.result(t)
		if err != nil || st.State != StateSucceeded {
			t.Fatalf("state %s: %v", st.State, err)
		}
		if !slices.Contains(h.Calls(), "RetireRelease") {
			t.Fatal("the replaced color was never retired")
		}
		if wait := h.at("RetireRelease").Sub(h.at("Production")); wait < 10*time.Minute {
			t.Fatalf("retired %s after the switch, before the 10m grace", wait)
		}
		if slices.Contains(h.Calls(), "undo:UndoRelease") {
			t.Fatal("a successful release was undone")
		}
	})
	t.Run("cancel in grace switches back", func(t *testing.T) {
		h := newHarness(t)
		h.release = contract.ProductionResult{Revision: "4", Previous: 3, Color: "green"}
		h.duringRelease = func() {
			h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 5*time.Minute)
		}
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
		h.env.ExecuteWorkflow(Pipeline, input(blueGreenSpec(t)))
		st, _ := h.result(t)
		if st.State != StateCancelled {
			t.Fatalf("state %s", st.State)
		}
		if got := only(h.Calls(), "undo:", "RetireRelease"); !slices.Equal(got, []string{"undo:UndoRelease", "undo:RemoveTag", "undo:DeleteEnvironment"}) {
			t.Fatalf("calls %v", got)
		}
	})
	t.Run("first release has nothing to retire", func(t *testing.T) {
		h := newHarness(t)
		h.release = contract.ProductionResult{Revision: "1", Color: "blue"}
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
		h.env.ExecuteWorkflow(Pipeline, input(blueGreenSpec(t)))
		if st, err := h.result(t); err != nil || st.State != StateSucceeded {
			t.Fatalf("state %s: %v", st.State, err)
		}
		if slices.Contains(h.Calls(), "RetireRelease") {
			t.Fatal("retired a color no release had")
		}
	})
}

// TestNewerPushWaitsForRelease: a push that arrives while production is
// releasing does not interrupt it; the release finishes, nothing is undone,
// and the newer push runs next.
func TestNewerPushWaitsForRelease(t *testing.T) {
	h := newHarness(t)
	in := input(fullSpec(t))
	newer := in.Request
	newer.Push.Commit, newer.Push.DeliveryID = strings.Repeat("b", 40), "d2"
	h.duringRelease = func() { h.env.SignalWorkflow(SignalPush, newer) }
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, in)
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("not completed")
	}
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new with the newer push, got %v", err)
	}
	if got := only(h.Calls(), "undo:"); !slices.Equal(got, []string{"undo:DeleteEnvironment"}) {
		t.Fatalf("the release was interrupted: undos %v", got)
	}
	var next PipelineInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Push.Commit != newer.Push.Commit {
		t.Fatalf("next run is of %s", next.Push.Commit)
	}
}

// TestStagingDeployIsARelease: deploying to staging passes staging's
// strategy and context, makes no ephemeral environment, and a later failure
// undoes the staging release instead of deleting a namespace.
func TestStagingDeployIsARelease(t *testing.T) {
	h := newHarness(t)
	h.failAt = pipelines.PhaseIntegration
	spec := fullSpec(t)
	spec.Deploy.Environment = "staging"
	spec.Environments.Staging = &pipelines.Environment{Namespace: "hello-staging", Context: "stage", Strategy: pipelines.BlueGreen}
	h.env.ExecuteWorkflow(Pipeline, input(spec))
	if _, err := h.result(t); err == nil {
		t.Fatal("want the failed integration to fail the run")
	}
	in := h.input("Deploy").(contract.DeployInput)
	if in.Ephemeral || in.Namespace != "hello-staging" || in.Pipeline != "hello" || in.Strategy != pipelines.BlueGreen || in.Context != "stage" {
		t.Fatalf("deploy input %+v", in)
	}
	if got := only(h.Calls(), "undo:"); !slices.Equal(got, []string{"undo:UndoRelease"}) {
		t.Fatalf("undos %v", got)
	}
	if undo := h.input("undo:UndoRelease").(contract.ReleaseRef); undo.Namespace != "hello-staging" || undo.Context != "stage" {
		t.Fatalf("undo %+v", undo)
	}
}

// TestAvailableStatus: when promote marks the image available, the commit
// gets a status of its own saying so (and a failed promote sets none).
func TestAvailableStatus(t *testing.T) {
	h := newHarness(t)
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
	if st, err := h.result(t); err != nil || st.State != StateSucceeded {
		t.Fatalf("state %s: %v", st.State, err)
	}
	if got := only(h.Calls(), "status[sluice/available]"); !slices.Equal(got, []string{"status[sluice/available]:success:image sha256:beef marked available"}) {
		t.Fatalf("available statuses %v", got)
	}
	h = newHarness(t)
	h.failAt = pipelines.PhasePromote
	h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
	if got := only(h.Calls(), "status[sluice/available]"); len(got) != 0 {
		t.Fatalf("a failed promote set %v", got)
	}
}

// TestBuildArtifactsGoToBake: build is asked to push build.artifacts to the
// bake repository, and bake gets what it pushed.
func TestBuildArtifactsGoToBake(t *testing.T) {
	h := newHarness(t)
	spec := fullSpec(t)
	spec.Build.Artifacts = []string{"bin/app"}
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, input(spec))
	if st, err := h.result(t); err != nil || st.Outputs.Artifacts != "127.0.0.1:5000/acme/hello@sha256:art" {
		t.Fatalf("outputs %+v: %v", st.Outputs, err)
	}
	build := h.input("Run:build").(contract.StepsInput)
	if !slices.Equal(build.Artifacts, []string{"bin/app"}) || build.ArtifactRepo != "127.0.0.1:5000/acme/hello" {
		t.Fatalf("build input %+v", build)
	}
	if bake := h.input("Bake").(contract.BakeInput); bake.Artifacts != "127.0.0.1:5000/acme/hello@sha256:art" {
		t.Fatalf("bake got artifacts %q", bake.Artifacts)
	}
}

func analysedSpec(t *testing.T) pipelines.Spec {
	t.Helper()
	s := blueGreenSpec(t)
	s.Production.Grace = pipelines.Duration(time.Minute)
	s.Production.Analysis = &pipelines.Analysis{Interval: pipelines.Duration(10 * time.Second), Count: 30,
		Metrics: []pipelines.Metric{{Name: "error-rate", Query: "x", Success: "< 0.05"}}}
	return s
}

// TestReleaseAnalysis: the queries are tried before the release (a
// rejected one releases nothing); the release is judged after it, from
// the switch; a failed analysis undoes the release at once; an
// inconclusive one asks the approvers, who keep or undo it; every value
// is in the run's record.
func TestReleaseAnalysis(t *testing.T) {
	one := 0.2
	measured := []contract.Measurement{{Metric: "error-rate", Value: &one, Outcome: contract.AnalysisFailed, At: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}}
	t.Run("passed", func(t *testing.T) {
		h := newHarness(t)
		h.release = contract.ProductionResult{Revision: "4", Previous: 3, Color: "green"}
		h.analysis = contract.AnalysisResult{Verdict: contract.AnalysisPassed, Taken: 30, Measurements: measured}
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
		h.env.ExecuteWorkflow(Pipeline, input(analysedSpec(t)))
		st, err := h.result(t)
		if err != nil || st.State != StateSucceeded || st.Outputs.Analysis == nil || st.Outputs.Analysis.Verdict != contract.AnalysisPassed {
			t.Fatalf("state %s %+v: %v", st.State, st.Outputs.Analysis, err)
		}
		if got := only(h.Calls(), "Analyze", "Production", "RetireRelease"); !slices.Equal(got, []string{"Analyze:check", "Production", "Analyze", "RetireRelease"}) {
			t.Fatalf("calls %v", got)
		}
		in := h.input("Analyze").(contract.AnalysisInput)
		if in.Started.IsZero() || in.Pipeline != "hello" || in.Namespace != "hello" || in.Analysis.Count != 30 {
			t.Fatalf("analysis input %+v", in)
		}
		rec := h.runRecords[len(h.runRecords)-1]
		if !slices.ContainsFunc(rec.Events, func(e contract.RecordEvent) bool {
			return e.Kind == contract.EventMeasurement && e.Name == "error-rate" && e.Detail == "error-rate = 0.2: failed"
		}) || !slices.ContainsFunc(rec.Events, func(e contract.RecordEvent) bool {
			return e.Kind == contract.EventAnalysis && e.Status == contract.AnalysisPassed
		}) {
			t.Fatalf("the record lacks the measurement or the verdict: %+v", rec.Events)
		}
	})
	t.Run("failed undoes the release", func(t *testing.T) {
		h := newHarness(t)
		h.release = contract.ProductionResult{Revision: "4", Previous: 3, Color: "green"}
		h.analysis = contract.AnalysisResult{Verdict: contract.AnalysisFailed, Reason: "error-rate failed 1 of 1", Measurements: measured}
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
		h.env.ExecuteWorkflow(Pipeline, input(analysedSpec(t)))
		st, err := h.result(t)
		if err == nil || st.State != StateFailed || !strings.Contains(st.Error, "analysis failed: error-rate failed 1 of 1") {
			t.Fatalf("state %s %q: %v", st.State, st.Error, err)
		}
		if got := only(h.Calls(), "undo:UndoRelease", "RetireRelease"); !slices.Equal(got, []string{"undo:UndoRelease"}) {
			t.Fatalf("calls %v", got)
		}
		// the release's record will say why it was undone
		if ref := h.input("undo:UndoRelease").(contract.ReleaseRef); !strings.HasPrefix(ref.Reason, "analysis failed: error-rate failed 1 of 1") {
			t.Fatalf("the undo's reason: %q", ref.Reason)
		}
	})
	t.Run("rejected query releases nothing", func(t *testing.T) {
		h := newHarness(t)
		h.checkErr = temporal.NewNonRetryableApplicationError(`metric "error-rate": Prometheus rejected the query`, contract.ErrInvalidInput, nil)
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
		h.env.ExecuteWorkflow(Pipeline, input(analysedSpec(t)))
		st, _ := h.result(t)
		if st.State != StateFailed || slices.Contains(h.Calls(), "Production") || !strings.Contains(st.Error, "rejected the query") {
			t.Fatalf("state %s %q, calls %v", st.State, st.Error, h.Calls())
		}
	})
	for _, c := range []struct {
		name   string
		update string
		d      Decision
		state  string
		undone bool
	}{
		{"inconclusive kept by an approver", UpdateApprove, Decision{User: "bob"}, StateSucceeded, false},
		{"inconclusive rejected", UpdateReject, Decision{User: "bob", Comment: "no data, no release"}, StateRejected, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.release = contract.ProductionResult{Revision: "4", Previous: 3, Color: "green"}
			h.analysis = contract.AnalysisResult{Verdict: contract.AnalysisInconclusive, Reason: "error-rate was inconclusive 1 of 1 times"}
			h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
			// alice approved the release; bob decides about its analysis
			u := h.decideAt(t, 2*time.Hour, c.update, c.d)
			h.env.ExecuteWorkflow(Pipeline, input(analysedSpec(t)))
			st, _ := h.result(t)
			if st.State != c.state || !u.completed || u.err != nil {
				t.Fatalf("state %s %q, update %+v", st.State, st.Error, u)
			}
			if len(st.Gates) != 1 || st.Gates[0].Status != ApprovalApproved || st.Approval == nil || !strings.HasPrefix(st.Approval.For, "inconclusive analysis: error-rate") {
				t.Fatalf("gates %+v, approval %+v", st.Gates, st.Approval)
			}
			if undone := slices.Contains(h.Calls(), "undo:UndoRelease"); undone != c.undone {
				t.Fatalf("undone %v, calls %v", undone, h.Calls())
			}
			rec := h.runRecords[len(h.runRecords)-1]
			keys := map[string]string{}
			for _, e := range rec.Events {
				keys[e.Key] = e.Actor + "/" + e.Name
			}
			if keys["approval:0"] != "alice/approval" || (keys["gate1:approval:0"] != "bob/production" && keys["gate1:rejection"] != "bob/production") {
				t.Fatalf("the record's decisions: %v", keys)
			}
		})
	}
}

func canarySpec(t *testing.T) pipelines.Spec {
	t.Helper()
	s := analysedSpec(t)
	s.Environments.Production.Strategy = pipelines.Canary
	s.Production.Canary = &pipelines.CanarySteps{Steps: []pipelines.CanaryStep{
		{Weight: 25, Pause: pipelines.Duration(time.Minute)}, {Weight: 50, Analysis: true}, {Weight: 75, Approve: true}}}
	return s
}

// TestCanarySteps: the release starts the canary at the first step's
// weight; each step then sets its weight, holds, judges and asks as it
// says, and the canary is promoted after the last; a failed analysis
// stops it before promotion, and the compensation removes it.
func TestCanarySteps(t *testing.T) {
	t.Run("promoted", func(t *testing.T) {
		h := newHarness(t)
		h.release = contract.ProductionResult{Revision: "4", Previous: 3, Canary: true}
		h.analysis = contract.AnalysisResult{Verdict: contract.AnalysisPassed, Taken: 30}
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
		h.decideAt(t, 5*time.Hour, UpdateApprove, Decision{User: "bob"}) // at 75 %
		h.env.ExecuteWorkflow(Pipeline, input(canarySpec(t)))
		st, err := h.result(t)
		if err != nil || st.State != StateSucceeded || st.Outputs.Canary != "promoted after 3 step(s)" {
			t.Fatalf("state %s %q: %v", st.State, st.Outputs.Canary, err)
		}
		want := []string{"Analyze:check", "Production", "SetCanaryWeight:50", "Analyze", "SetCanaryWeight:75", "PromoteCanary"}
		if got := only(h.Calls(), "Analyze", "Production", "SetCanaryWeight", "PromoteCanary", "RetireRelease", "undo:UndoRelease"); !slices.Equal(got, want) {
			t.Fatalf("calls %v, want %v", got, want)
		}
		if in := h.input("Production").(contract.ProductionInput); in.CanaryWeight != 25 || in.Strategy != pipelines.Canary {
			t.Fatalf("production input %+v", in)
		}
		if held := h.at("SetCanaryWeight:50").Sub(h.at("Production")); held < time.Minute {
			t.Fatalf("25 %% held %s, want the step's 1m pause", held)
		}
		if len(st.Gates) != 1 || st.Approval.For != "canary at 75% (step 3 of 3): let it go on" || st.Approval.Approvals[0].User != "bob" {
			t.Fatalf("gates %+v, approval %+v", st.Gates, st.Approval)
		}
	})
	t.Run("failed analysis aborts", func(t *testing.T) {
		h := newHarness(t)
		h.release = contract.ProductionResult{Revision: "4", Previous: 3, Canary: true}
		h.analysis = contract.AnalysisResult{Verdict: contract.AnalysisFailed, Reason: "error-rate failed 2 of 2"}
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
		h.env.ExecuteWorkflow(Pipeline, input(canarySpec(t)))
		st, _ := h.result(t)
		if st.State != StateFailed || !strings.Contains(st.Error, "analysis failed") {
			t.Fatalf("state %s %q", st.State, st.Error)
		}
		if got := only(h.Calls(), "SetCanaryWeight", "PromoteCanary", "undo:UndoRelease"); !slices.Equal(got, []string{"SetCanaryWeight:50", "undo:UndoRelease"}) {
			t.Fatalf("calls %v", got)
		}
	})
}
