package runs

import (
	"testing"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/workflows"
)

func TestResumePoint(t *testing.T) {
	phases := func(statuses ...string) []workflows.PhaseState {
		names := []string{"build", "test", "bake", "deploy", "integration"}
		var out []workflows.PhaseState
		for i, s := range statuses {
			out = append(out, workflows.PhaseState{Name: names[i], Status: s})
		}
		return out
	}
	outs := workflows.Outputs{Workspace: contract.Workspace{Kind: contract.WorkspaceLocal, Path: "/ws"}, Image: "img", Digest: "sha256:1", Environment: "ns"}
	cases := []struct {
		name, state string
		phases      []workflows.PhaseState
		want        string
		keepDigest  bool
		wantErr     bool
	}{
		{"failed test", workflows.StateFailed, phases("succeeded", "failed", "pending"), "test", false, false},
		{"integration failed after deploy was undone", workflows.StateFailed,
			phases("succeeded", "succeeded", "succeeded", "compensated", "failed"), "deploy", true, false},
		{"cancelled in bake", workflows.StateCancelled, phases("succeeded", "succeeded", "cancelled"), "bake", false, false},
		{"succeeded runs are not retried", workflows.StateSucceeded, phases("succeeded"), "", false, true},
		{"rejected runs are not retried", workflows.StateRejected, phases("succeeded"), "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			phase, out, err := ResumePoint(workflows.RunState{State: tc.state, Phases: tc.phases, Outputs: outs})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if phase != tc.want {
				t.Fatalf("phase %q want %q", phase, tc.want)
			}
			if !tc.wantErr && (out.Digest != "") != tc.keepDigest {
				t.Fatalf("digest kept=%v, want %v", out.Digest != "", tc.keepDigest)
			}
			if out.Environment != "" {
				t.Fatal("the environment of an undone deploy must not be reused")
			}
		})
	}
}

// TestRetryAfterApprovalAsksAgain fails production after an approval: the
// retry resumes at approval (without the old approvers) unless the spec keeps
// approvals across retries.
func TestRetryAfterApprovalAsksAgain(t *testing.T) {
	names := []string{"build", "approval", "production"}
	st := workflows.RunState{State: workflows.StateFailed,
		Outputs: workflows.Outputs{ApprovedBy: []string{"alice"}, Image: "img"},
		Request: workflows.Request{Spec: pipelines.Spec{Approval: &pipelines.ApprovalPhase{}}}}
	for i, s := range []string{"succeeded", "succeeded", "failed"} {
		st.Phases = append(st.Phases, workflows.PhaseState{Name: names[i], Status: s})
	}
	phase, out, err := ResumePoint(st)
	if err != nil || phase != "approval" || len(out.ApprovedBy) != 0 {
		t.Fatalf("resume at %q with approvers %v (%v), want a fresh approval", phase, out.ApprovedBy, err)
	}
	st.Request.Spec.Approval.KeepOnRetry = true
	if phase, out, _ := ResumePoint(st); phase != "production" || len(out.ApprovedBy) != 1 {
		t.Fatalf("keep-on-retry: resume at %q with approvers %v", phase, out.ApprovedBy)
	}
}

func TestParseRef(t *testing.T) {
	r, err := ParseRef("pipeline/acme/hello/feature/x@0193abcd-ef01-7000-8000-000000000000")
	if err != nil || r.WorkflowID != "pipeline/acme/hello/feature/x" || r.RunID == "" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := ParseRef("pipeline/acme/hello/main"); err != nil || r.RunID != "" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseRef("nonsense"); err == nil {
		t.Fatal("accepted a non-run id")
	}
}
