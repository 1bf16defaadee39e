package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// TestPhaseTableMatchesSpec keeps the workflow's phase table and the spec's
// in step: same phases, same order, each with a run function.
func TestPhaseTableMatchesSpec(t *testing.T) {
	var names []string
	for _, d := range phaseDefs {
		names = append(names, d.name)
		if d.run == nil {
			t.Errorf("phase %s has no run function", d.name)
		}
	}
	if !slices.Equal(names, pipelines.PhaseOrder) {
		t.Fatalf("workflow phases %v, spec phases %v", names, pipelines.PhaseOrder)
	}
}

// TestOutputsBeforeKeepsOnlyEarlierPhases checks, for every resume point,
// that a retry keeps each earlier phase's outputs and none of the others.
func TestOutputsBeforeKeepsOnlyEarlierPhases(t *testing.T) {
	all := Outputs{
		Workspace:   contract.Workspace{Kind: contract.WorkspaceLocal, Path: "/ws"},
		TestSummary: "ok", Image: "img", Digest: "sha256:1", Environment: "ns",
		IntegrationSummary: "it ok", ChaosSummary: "1 experiment(s) passed", AvailableTag: "available", ApprovedBy: []string{"alice"},
		ProductionRevision: "3",
	}
	// what each phase produces, checked field by field
	produced := map[string]func(Outputs) bool{
		pipelines.PhaseBuild:       func(o Outputs) bool { return !o.Workspace.IsZero() },
		pipelines.PhaseTest:        func(o Outputs) bool { return o.TestSummary != "" },
		pipelines.PhaseBake:        func(o Outputs) bool { return o.Image != "" && o.Digest != "" },
		pipelines.PhaseDeploy:      func(o Outputs) bool { return o.Environment != "" },
		pipelines.PhaseIntegration: func(o Outputs) bool { return o.IntegrationSummary != "" },
		pipelines.PhaseChaos:       func(o Outputs) bool { return o.ChaosSummary != "" },
		pipelines.PhasePromote:     func(o Outputs) bool { return o.AvailableTag != "" },
		pipelines.PhaseApproval:    func(o Outputs) bool { return len(o.ApprovedBy) > 0 },
		pipelines.PhaseProduction:  func(o Outputs) bool { return o.ProductionRevision != "" },
	}
	for i, at := range pipelines.PhaseOrder {
		got := OutputsBefore(at, all)
		for j, p := range pipelines.PhaseOrder {
			if has, want := produced[p](got), j < i; has != want {
				t.Errorf("resume at %s: outputs of %s kept=%v, want %v", at, p, has, want)
			}
		}
	}
}

// TestDeliveryDedupeAcrossContinueAsNew starts a run as the successor of an
// earlier one that saw delivery d9, then redelivers d9 (with a different
// commit, as a replayed webhook would): the run must ignore it instead of
// being superseded.
func TestDeliveryDedupeAcrossContinueAsNew(t *testing.T) {
	h := newHarness(t)
	in := input(fullSpec(t))
	in.Seen = []string{"d9", "commit:" + strings.Repeat("9", 40)}
	replay := in.Request
	replay.Push.Commit, replay.Push.DeliveryID = strings.Repeat("e", 40), "d9"
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalPush, replay) }, 30*time.Minute)
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, in)
	st, err := h.result(t)
	if err != nil {
		t.Fatalf("a redelivered push from an earlier run of the chain superseded this one: %v", err)
	}
	if st.State != StateSucceeded || st.SupersededBy != "" {
		t.Fatalf("state %s superseded by %q", st.State, st.SupersededBy)
	}
}

// TestQueueIsBounded pushes more commits than the queue holds while a run
// waits for approval: the queue keeps the newest MaxQueue.
func TestQueueIsBounded(t *testing.T) {
	h := newHarness(t)
	spec := fullSpec(t)
	spec.Concurrency = pipelines.Queue
	in := input(spec)
	for i := range MaxQueue + 5 {
		req := in.Request
		req.Push.Commit, req.Push.DeliveryID = fmt.Sprintf("%040x", i+1), fmt.Sprintf("q%d", i)
		h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalPush, req) }, 30*time.Minute+time.Duration(i)*time.Second)
	}
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, in)
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next PipelineInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	// the successor runs the oldest kept push; the rest wait in its queue
	if got := len(next.Queue) + 1; got != MaxQueue {
		t.Fatalf("%d pushes kept, want %d", got, MaxQueue)
	}
	if last := next.Queue[len(next.Queue)-1].Push.Commit; last != fmt.Sprintf("%040x", MaxQueue+5) {
		t.Fatalf("the newest push was dropped: last queued %s", last)
	}
}
