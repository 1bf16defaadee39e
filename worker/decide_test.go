package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/workflows"
)

// TestDecisionBoundToTheReviewedRun: a decision reaches only the run, and
// the commit, its decider reviewed. One that names the branch instead of
// the run, one naming the run with another commit, and one captured for a
// run a newer push has since superseded are refused; the newer run is
// approved only by a decision naming it and its commit.
func TestDecisionBoundToTheReviewedRun(t *testing.T) {
	c := devservertest.Start(t)
	w, err := New(c, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	src := "version: 1\nbuild: {commands: [\"true\"]}\napproval: {approvers: {users: [alice]}}\n"
	repo, first := gitsrctest.Repo(t, "../examples/hello", src)
	if err := os.WriteFile(filepath.Join(repo, "CHANGES"), []byte("second\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := gitsrctest.Commit(t, repo, "second")
	spec, err := pipelines.Parse(".sluice.yml", []byte(src), "hello")
	if err != nil {
		t.Fatal(err)
	}
	rc := &runs.Client{Temporal: c}
	push := func(commit string) {
		t.Helper()
		if _, err := rc.Start(context.Background(), workflows.Request{Spec: *spec,
			Push: workflows.Push{Repo: "acme/hello", CloneURL: repo, Branch: "main", Commit: commit, DeliveryID: commit}}); err != nil {
			t.Fatal(err)
		}
	}
	waiting := func(commit string) runs.Ref {
		t.Helper()
		var ref runs.Ref
		poll.Until(t, "the run of "+commit[:7]+" to wait for approval", func() bool {
			r, st, err := rc.Status(context.Background(), runs.Ref{WorkflowID: workflows.WorkflowID("acme/hello", "main")})
			ref = r
			return err == nil && st.State == workflows.StateAwaitingApproval && st.Request.Push.Commit == commit
		})
		return ref
	}
	decide := func(ref runs.Ref, commit string) error {
		_, err := rc.Decide(context.Background(), ref, commit, true, workflows.Decision{User: "alice"})
		return err
	}
	push(first)
	a := waiting(first)
	if err := decide(runs.Ref{WorkflowID: a.WorkflowID}, first); !errors.Is(err, runs.ErrRefused) || !strings.Contains(err.Error(), "names a branch") {
		t.Fatalf("a decision naming the branch: %v", err)
	}
	if err := decide(a, second[:12]); !errors.Is(err, runs.ErrRefused) || !strings.Contains(err.Error(), "releases commit "+first) {
		t.Fatalf("a decision naming another commit: %v", err)
	}
	push(second) // supersedes the first run
	b := waiting(second)
	if b.RunID == a.RunID {
		t.Fatal("the newer push did not make a new run")
	}
	if err := decide(a, first); !errors.Is(err, runs.ErrRefused) {
		t.Fatalf("a decision captured for the superseded run reached the new one: %v", err)
	}
	if err := decide(b, second[:12]); err != nil {
		t.Fatalf("the reviewed run and commit: %v", err)
	}
	_, st, err := rc.Status(context.Background(), b)
	if err != nil || len(st.Approval.Approvals) != 1 {
		t.Fatalf("approvals %+v, %v", st.Approval.Approvals, err)
	}
}
