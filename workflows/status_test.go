package workflows

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestCommitStatusFollowsTheRun(t *testing.T) {
	h := newHarness(t)
	h.failAt = "test"
	in := approvalOnly(t, 1)
	in.Spec.Test = fullSpec(t).Test
	h.env.ExecuteWorkflow(Pipeline, in)
	if _, err := h.result(t); err == nil {
		t.Fatal("want failure")
	}
	// progress updates are not awaited, so only their set is fixed; the
	// final status is always last
	got := only(h.Calls(), "status:")
	if len(got) != 3 || got[2] != "status:failure:failed in test" {
		t.Fatalf("statuses %v", got)
	}
	progress := slices.Sorted(slices.Values(got[:2]))
	if !slices.Equal(progress, []string{"status:running:phase build", "status:running:phase test"}) {
		t.Fatalf("progress statuses %v", progress)
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
