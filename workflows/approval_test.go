package workflows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-cd/sluice/pipelines"
)

// approvalOnly is a pipeline with build and an approval gate.
func approvalOnly(t *testing.T, required int) PipelineInput {
	t.Helper()
	spec := fullSpec(t)
	spec.Test, spec.Bake, spec.Deploy, spec.Integration, spec.Promote, spec.Production = nil, nil, nil, nil, nil, nil
	spec.Approval.Required = required
	return input(spec)
}

func TestApprovalApprove(t *testing.T) {
	h := newHarness(t)
	u := h.decideAt(t, 2*time.Hour, UpdateApprove, Decision{User: "alice", Comment: "ship it"})
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 1))
	st, err := h.result(t)
	if err != nil || st.State != StateSucceeded {
		t.Fatalf("state %s err %v", st.State, err)
	}
	if !u.accepted || !u.completed || u.err != nil {
		t.Fatalf("update: %+v", u)
	}
	a := st.Approval
	if a.Status != ApprovalApproved || len(a.Approvals) != 1 || a.Approvals[0].Comment != "ship it" {
		t.Fatalf("approval %+v", a)
	}
	if !slices.Contains(h.Calls(), "notify:approval_requested") || !slices.Contains(h.Calls(), "notify:approval_decided") {
		t.Fatalf("notices %v", h.Calls())
	}
}

func TestApprovalGroupMemberMayApprove(t *testing.T) {
	h := newHarness(t)
	u := h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "dave"})
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 1))
	if st, err := h.result(t); err != nil || st.State != StateSucceeded || u.err != nil {
		t.Fatalf("group member approval: state %s err %v update %v", st.State, err, u.err)
	}
}

func TestApprovalReject(t *testing.T) {
	h := newHarness(t)
	noReason := h.decideAt(t, time.Hour, UpdateReject, Decision{User: "bob"})
	h.decideAt(t, 2*time.Hour, UpdateReject, Decision{User: "bob", Comment: "breaks checkout"})
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 1))
	st, err := h.result(t)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrRejected {
		t.Fatalf("want Rejected, got %v", err)
	}
	if st.State != StateRejected || st.Approval.Rejection.User != "bob" || !strings.Contains(st.Error, "breaks checkout") {
		t.Fatalf("state %s approval %+v", st.State, st.Approval)
	}
	if noReason.rejected == nil || !strings.Contains(noReason.rejected.Error(), "reason") {
		t.Fatalf("rejection without a reason must be refused by the validator: %+v", noReason)
	}
}

func TestApprovalTimeout(t *testing.T) {
	h := newHarness(t)
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 1))
	st, err := h.result(t)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrApprovalTimedOut {
		t.Fatalf("want ApprovalTimedOut, got %v", err)
	}
	if st.State != StateTimedOut || st.Approval.Status != ApprovalExpired {
		t.Fatalf("state %s approval %s", st.State, st.Approval.Status)
	}
	// 48h timeout, 12h reminders, at most 2: history stays bounded.
	if n := len(only(h.Calls(), "notify:approval_reminder")); n != 2 || st.Approval.Reminders != 2 {
		t.Fatalf("reminders sent %d (state %d), want 2", n, st.Approval.Reminders)
	}
	if !slices.Contains(h.Calls(), "notify:approval_expired") {
		t.Fatal("no expiry notice")
	}
	// the approval began after the build; timeout measured from then
	if got := st.Finished.Sub(st.Approval.RequestedAt); got != 48*time.Hour {
		t.Fatalf("approval waited %s, want 48h", got)
	}
}

// TestApprovalRefusals covers every refused decision: each leaves the run
// waiting, is answered with the reason, and is recorded for the audit log.
func TestApprovalRefusals(t *testing.T) {
	cases := []struct {
		name   string
		first  *Decision
		d      Decision
		reason string
		push   func(*Push)
	}{
		{"not an approver", nil, Decision{User: "mallory"}, RefusedNotApprover, nil},
		{"author by username", nil, Decision{User: "carol"}, RefusedAuthor, nil},
		{"author by email in another case", nil, Decision{User: "Carol@Example.COM"}, RefusedAuthor, nil},
		{"the pusher, who is not the commit's author", nil, Decision{User: "alice"}, RefusedAuthor,
			func(p *Push) { p.PusherIDs = []string{"Alice"} }},
		{"duplicate", &Decision{User: "alice"}, Decision{User: "alice"}, RefusedDuplicate, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.first != nil {
				h.decideAt(t, time.Hour, UpdateApprove, *tc.first)
			}
			u := h.decideAt(t, 2*time.Hour, UpdateApprove, tc.d)
			h.decideAt(t, 3*time.Hour, UpdateApprove, Decision{User: "bob"})
			in := approvalOnly(t, 2)
			if tc.push != nil {
				tc.push(&in.Push)
			}
			h.env.ExecuteWorkflow(Pipeline, in)
			st, err := h.result(t)
			if !u.accepted || u.err == nil || !strings.Contains(u.err.Error(), tc.reason) {
				t.Fatalf("update %+v, want refusal %q", u, tc.reason)
			}
			if len(st.Approval.Refusals) != 1 || st.Approval.Refusals[0].Reason != tc.reason || st.Approval.Refusals[0].User != tc.d.User {
				t.Fatalf("refusal not recorded: %+v", st.Approval.Refusals)
			}
			wantState := StateTimedOut // the refused decision must not count
			if tc.first != nil {
				wantState = StateSucceeded // alice + bob
			}
			if st.State != wantState {
				t.Fatalf("state %s (err %v), want %s", st.State, err, wantState)
			}
		})
	}
}

func TestApprovalNeedsDistinctApprovers(t *testing.T) {
	h := newHarness(t)
	first := h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.decideAt(t, 2*time.Hour, UpdateApprove, Decision{User: "bob"})
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 2))
	st, err := h.result(t)
	if err != nil || st.State != StateSucceeded {
		t.Fatalf("state %s err %v", st.State, err)
	}
	if first.err != nil || !slices.Equal(st.Outputs.ApprovedBy, []string{"alice", "bob"}) {
		t.Fatalf("approved by %v", st.Outputs.ApprovedBy)
	}
}

// TestApprovalAfterDecisionIsRefused delivers a rejection and a late
// approval in the same workflow task, so the run is still open when the
// approval arrives: it must be refused and must not turn the rejection into
// a release.
func TestApprovalAfterDecisionIsRefused(t *testing.T) {
	h := newHarness(t)
	late := &updateResult{}
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(UpdateReject, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(error) {}, OnComplete: func(any, error) {},
		}, Decision{User: "alice", Comment: "no"})
		h.env.UpdateWorkflow(UpdateApprove, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() { late.accepted = true },
			OnReject:   func(err error) { late.rejected = err },
			OnComplete: func(_ any, err error) { late.completed, late.err = true, err },
		}, Decision{User: "bob"})
	}, time.Hour)
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 1))
	st, _ := h.result(t)
	if st.State != StateRejected || st.Approval.Status != ApprovalRejected {
		t.Fatalf("a late approval changed a rejected run: state %s, approval %s", st.State, st.Approval.Status)
	}
	refused := late.rejected != nil || (late.completed && late.err != nil)
	if !refused {
		t.Fatalf("a decision after the gate closed was not refused: %+v", late)
	}
	if len(st.Approval.Approvals) != 0 {
		t.Fatalf("approvals recorded after the rejection: %+v", st.Approval.Approvals)
	}
}

func TestApprovalUnknownGroupFailsClearly(t *testing.T) {
	h := newHarness(t)
	in := approvalOnly(t, 1)
	in.Groups = nil
	h.env.ExecuteWorkflow(Pipeline, in)
	st, err := h.result(t)
	if err == nil || st.Phase != pipelines.PhaseApproval || !strings.Contains(st.Error, "leads") || !strings.Contains(st.Error, "server configuration") {
		t.Fatalf("state %+v err %v", st, err)
	}
}

// TestRefusalsAreBounded sends more refused decisions than a run records:
// the excess is turned away by the validator and leaves no history.
func TestRefusalsAreBounded(t *testing.T) {
	h := newHarness(t)
	var last *updateResult
	for i := range MaxRefusals + 5 {
		last = h.decideAt(t, time.Hour+time.Duration(i)*time.Second, UpdateApprove, Decision{User: "mallory"})
	}
	h.decideAt(t, 2*time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 1))
	st, err := h.result(t)
	if err != nil || st.State != StateSucceeded {
		t.Fatalf("state %s err %v", st.State, err)
	}
	if n := len(st.Approval.Refusals); n != MaxRefusals {
		t.Fatalf("%d refusals recorded, want the bound %d", n, MaxRefusals)
	}
	if last.rejected == nil || last.accepted {
		t.Fatalf("a refusal past the bound entered the history: %+v", last)
	}
}

func TestRejectionNeedsARealReason(t *testing.T) {
	h := newHarness(t)
	u := h.decideAt(t, time.Hour, UpdateReject, Decision{User: "alice", Comment: "   "})
	h.decideAt(t, 2*time.Hour, UpdateApprove, Decision{User: "bob"})
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 1))
	st, _ := h.result(t)
	if u.rejected == nil || st.State != StateSucceeded {
		t.Fatalf("a blank reason was accepted: update %+v, state %s", u, st.State)
	}
}

// TestBuildPodReleasedWhenTestPasses: a pool pod is given back as soon as
// test passes, not held through the approval wait.
func TestBuildPodReleasedWhenTestPasses(t *testing.T) {
	h := newHarness(t)
	h.decideAt(t, 2*time.Hour, UpdateApprove, Decision{User: "alice"})
	spec := fullSpec(t)
	spec.Bake, spec.Deploy, spec.Integration, spec.Promote, spec.Production = nil, nil, nil, nil, nil
	spec.Build.Pool = "go"
	h.env.ExecuteWorkflow(Pipeline, input(spec))
	if st, err := h.result(t); err != nil || st.State != StateSucceeded {
		t.Fatalf("state %s err %v", st.State, err)
	}
	calls := only(h.Calls(), "Run:", "Cleanup", "notify:approval_requested")
	want := []string{"Run:build", "Run:test", "Cleanup", "notify:approval_requested"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %v, want %v (and no second release at the end)", calls, want)
	}
}
