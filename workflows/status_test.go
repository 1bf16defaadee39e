package workflows

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// TestCommitStatusFollowsTheRun: a phase's "running" status is asked of
// the worker that runs its activity — the first phase's at once, a later
// phase's once it has run for progressGate (activities'
// TestReportingProgress) — so the workflow sends none for them; the final
// status last. A run whose first phase is not one activity (approval) gets
// its first "running" from the workflow.
func TestCommitStatusFollowsTheRun(t *testing.T) {
	h := newHarness(t)
	h.failAt = "bake"
	h.slow = map[string]time.Duration{"test": progressGate + 200*time.Millisecond}
	in := approvalOnly(t, 1)
	full := fullSpec(t)
	in.Spec.Build, in.Spec.Test, in.Spec.Bake = full.Build, full.Test, full.Bake
	in.Spec.Build.Commands = []string{"true"}
	h.env.ExecuteWorkflow(Pipeline, in)
	if _, err := h.result(t); err == nil {
		t.Fatal("want failure")
	}
	got := only(h.Calls(), "status:")
	if !slices.Equal(got, []string{"status:failure:failed in bake"}) {
		t.Fatalf("statuses %v, want only the final one from the workflow", got)
	}
	for call, want := range map[string]struct {
		desc  string
		after time.Duration
	}{"Run:build": {"phase build", 0}, "Run:test": {"phase test", progressGate}, "Bake": {"phase bake", progressGate}} {
		var p *contract.Progress
		switch a := h.input(call).(type) {
		case contract.StepsInput:
			p = a.Progress
		case contract.BakeInput:
			p = a.Progress
		}
		if p == nil || p.After != want.after || p.Status.State != contract.StatusRunning || p.Status.Description != want.desc ||
			p.Status.Commit != in.Push.Commit || p.Status.Repo != in.Push.Repo || p.Status.RunID == "" {
			t.Errorf("%s was asked for progress %+v, want %q running after %s on %s@%s", call, p, want.desc, want.after, in.Push.Repo, in.Push.Commit)
		}
	}

	h = newHarness(t)
	h.decideAt(t, time.Minute, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 1))
	if st, err := h.result(t); err != nil || st.State != StateSucceeded {
		t.Fatalf("approval only: state %s err %v", st.State, err)
	}
	if got := only(h.Calls(), "status:running"); !slices.Equal(got, []string{"status:running:phase approval"}) {
		t.Fatalf("approval only: running statuses %v, want the first phase's from the workflow", got)
	}
}

// TestGitHostDownNeverFailsOrStallsARun makes every status update fail: the
// run still succeeds, and waits at most a minute for its final status.
func TestGitHostDownNeverFailsOrStallsARun(t *testing.T) {
	h := newHarness(t)
	h.statusErr = errors.New("connect: connection refused")
	in := approvalOnly(t, 1)
	h.decideAt(t, time.Minute, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, in)
	st, err := h.result(t)
	if err != nil || st.State != StateSucceeded {
		t.Fatalf("state %s err %v", st.State, err)
	}
	if n := len(only(h.Calls(), "status:success")); n < 2 {
		t.Fatalf("final status was not retried (%d attempts)", n)
	}
	if waited := st.Finished.Sub(st.Phases[len(st.Phases)-1].Finished); waited > time.Minute {
		t.Fatalf("the run waited %s for the Git host", waited)
	}
}

// TestSucceededRunEndsAtOnce: the cleanup of a run that passed (test
// environment, workspace), its last notice and its final commit status run
// at the same time, not one after the other.
func TestSucceededRunEndsAtOnce(t *testing.T) {
	h := newHarness(t)
	tail := []string{"undo:DeleteEnvironment", "Cleanup", "notify:" + contract.NoticeRunFinished, "status:success:pipeline succeeded"}
	h.hold = map[string]bool{}
	for _, n := range tail {
		h.hold[n] = true
	}
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
	if st, err := h.result(t); err != nil || st.State != StateSucceeded {
		t.Fatalf("state %s err %v", st.State, err)
	}
	for _, n := range tail {
		if !slices.Contains(h.Calls(), n) {
			t.Fatalf("%s did not run: %v", n, h.Calls())
		}
	}
	if h.maxHolding != len(tail) {
		t.Fatalf("at most %d of %v ran at once", h.maxHolding, tail)
	}
}

// TestApprovalPolicyIsAskedAheadOfTheGate: the worker's approval policy is
// read while the phase before the approval (promote) runs, and the
// approval's notice does not hold up production.
func TestApprovalPolicyIsAskedAheadOfTheGate(t *testing.T) {
	for _, pair := range [][]string{{"ApprovalPolicy", "MarkAvailable"}, {"notify:" + contract.NoticeApprovalDecided, "Production"}} {
		h := newHarness(t)
		h.hold = map[string]bool{pair[0]: true, pair[1]: true}
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
		h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
		if st, err := h.result(t); err != nil || st.State != StateSucceeded {
			t.Fatalf("state %s err %v", st.State, err)
		}
		if h.maxHolding != 2 {
			t.Errorf("%s and %s ran one after the other", pair[0], pair[1])
		}
	}
}
