package workflows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

var christmas = time.Date(2026, 12, 24, 10, 0, 0, 0, time.UTC)

func holidays(fail bool) *contract.Freeze {
	return &contract.Freeze{Fail: fail, Deny: []contract.Window{{Name: "holidays",
		From: time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)}}}
}

// TestProductionWaitsForTheFreeze: a release approved inside a deny
// window waits on a durable timer until the window ends, saying so in its
// state, then releases; under on_freeze: fail it fails at once instead.
func TestProductionWaitsForTheFreeze(t *testing.T) {
	h := newHarness(t)
	h.env.SetStartTime(christmas)
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	var frozen string
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryState)
		if err != nil {
			t.Error(err)
			return
		}
		var st RunState
		if err := v.Get(&st); err != nil {
			t.Error(err)
		}
		frozen = st.Frozen
	}, 2*time.Hour)
	in := input(blueGreenSpec(t))
	in.Policy = &contract.Governance{Freeze: holidays(false)}
	h.env.ExecuteWorkflow(Pipeline, in)
	st, err := h.result(t)
	if err != nil || st.State != StateSucceeded || st.Frozen != "" {
		t.Fatalf("state %s (%q): %v", st.State, st.Frozen, err)
	}
	if frozen != "frozen until 2026-12-27T00:00:00Z (deny window holidays)" {
		t.Errorf("state while frozen: %q", frozen)
	}
	if at := h.at("Production"); at.Before(holidays(false).Deny[0].Until) {
		t.Errorf("released at %s, inside the freeze", at)
	}
	frozenNotices := 0
	for _, n := range h.Notices() {
		if n.Kind == contract.NoticeProductionFrozen {
			frozenNotices++
			if !strings.Contains(n.Text, "frozen until 2026-12-27T00:00:00Z (deny window holidays)") || !strings.Contains(n.Text, "sluice unfreeze ") {
				t.Errorf("frozen notice %q", n.Text)
			}
		}
	}
	if frozenNotices != 1 {
		t.Errorf("%d notices of the freeze, want 1", frozenNotices)
	}

	h = newHarness(t)
	h.env.SetStartTime(christmas)
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	in.Policy = &contract.Governance{Freeze: holidays(true)}
	h.env.ExecuteWorkflow(Pipeline, in)
	st, err = h.result(t)
	if err == nil || st.State != StateFailed || !strings.Contains(st.Error, "frozen until 2026-12-27T00:00:00Z") {
		t.Fatalf("on_freeze fail: state %s %q %v", st.State, st.Error, err)
	}
	if _, released := h.inputs["Production"]; released {
		t.Error("a release under on_freeze: fail went out")
	}
}

// TestFreezeOverride: an override needs a reason and a frozen run; given
// one, production releases at once and the run records who and why.
func TestFreezeOverride(t *testing.T) {
	h := newHarness(t)
	h.env.SetStartTime(christmas)
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	early := h.decideAt(t, 30*time.Minute, UpdateUnfreeze, Decision{User: "root", Comment: "too early"})
	noReason := h.decideAt(t, 2*time.Hour, UpdateUnfreeze, Decision{User: "root"})
	ok := h.decideAt(t, 3*time.Hour, UpdateUnfreeze, Decision{User: "root", Comment: "incident 42 hotfix", Via: "api-token:root"})
	in := input(blueGreenSpec(t))
	in.Policy = &contract.Governance{Freeze: holidays(false)}
	h.env.ExecuteWorkflow(Pipeline, in)
	st, err := h.result(t)
	if err != nil || st.State != StateSucceeded {
		t.Fatalf("state %s: %v", st.State, err)
	}
	if early.rejected == nil || noReason.rejected == nil || !strings.Contains(noReason.rejected.Error(), "needs a reason") {
		t.Errorf("refused overrides: before the freeze %v, without a reason %v", early.rejected, noReason.rejected)
	}
	if !ok.completed || ok.err != nil {
		t.Fatalf("the override: %+v", ok)
	}
	o := st.FreezeOverride
	if o == nil || o.User != "root" || o.Reason != "incident 42 hotfix" || o.Until != "2026-12-27T00:00:00Z" || !o.At.Equal(christmas.Add(3*time.Hour)) {
		t.Fatalf("override %+v", o)
	}
	if at := h.at("Production"); !at.Equal(christmas.Add(3 * time.Hour)) {
		t.Errorf("released at %s, want at the override", at)
	}
	last := h.runRecords[len(h.runRecords)-1]
	if !slices.ContainsFunc(last.Events, func(e contract.RecordEvent) bool {
		return e.Kind == contract.EventOverride && e.Actor == "root" && strings.Contains(e.Detail, "incident 42")
	}) {
		t.Errorf("the record lacks the override: %+v", last.Events)
	}
}

// TestNewerPushReplacesAFrozenRun: a push while production waits for its
// freeze supersedes the waiting run (nothing was released, nothing is
// waited for) and runs next.
func TestNewerPushReplacesAFrozenRun(t *testing.T) {
	h := newHarness(t)
	h.env.SetStartTime(christmas)
	in := input(blueGreenSpec(t))
	in.Policy = &contract.Governance{Freeze: holidays(false)}
	newer := in.Request
	newer.Push.Commit, newer.Push.DeliveryID = strings.Repeat("b", 40), "d2"
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalPush, newer) }, 5*time.Hour)
	h.env.ExecuteWorkflow(Pipeline, in)
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new with the newer push, got %v", err)
	}
	if _, released := h.inputs["Production"]; released {
		t.Error("the frozen run released")
	}
	if at := h.env.Now(); at.After(christmas.Add(6 * time.Hour)) {
		t.Errorf("the superseded run went on until %s: it waited for the freeze", at)
	}
	var next PipelineInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil || next.Push.Commit != newer.Push.Commit {
		t.Fatalf("next run: %+v %v", next.Push, err)
	}
}
