package worker

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/contract/bind"
	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/workflows"
)

// TestQuotaPassesOnAnEndedHoldersSlot: a run holding its project's only
// slot is terminated (it never gives the slot back); the run waiting
// behind it is told its place, and gets the slot once the semaphore finds
// the holder ended. Neither run is ever approved (only bob may, and he
// does not), so nothing but the sweep frees the slot.
func TestQuotaPassesOnAnEndedHoldersSlot(t *testing.T) {
	c, rc := quotaWorker(t, 200*time.Millisecond)
	ctx := context.Background()
	spec := scenarioSpec(t, "version: 1\nbuild: {commands: [make]}\napproval: {approvers: {users: [bob]}, timeout: 1h, reminder: 30m}\n")
	policy := &contract.Governance{Project: "payments", Quota: &contract.Quota{Runs: 1}}
	start := func(branch string) runs.Ref { return startQuotaRun(t, rc, "acme/hello", branch, spec, policy) }
	state := func(ref runs.Ref) workflows.RunState { return runState(t, rc, ref) }
	holder := start("main")
	poll.Until(t, "the first run to wait for its approval", func() bool { return state(holder).Phase == "approval" })
	waiter := start("feature")
	poll.Until(t, "the second run to be told its place", func() bool {
		return state(waiter).Queued == "queued: 1st of project payments (1 running, limit 1)"
	})
	if err := c.TerminateWorkflow(ctx, holder.WorkflowID, holder.RunID, "lost"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the second run to get the ended holder's slot", func() bool {
		st := state(waiter)
		return st.Queued == "" && st.Phase == "approval"
	})
	q, err := rc.QuotaState(ctx, "payments")
	if err != nil || len(q.Holders) != 1 || q.Holders[0].RunID != waiter.RunID || len(q.Waiters) != 0 || q.Granted != 2 {
		t.Fatalf("semaphore %+v %v", q, err)
	}
}

// quotaWorker is the embedded server with a worker of pipelines (no-op
// activities) and Quota workflows; its client's semaphores sweep every
// sweep (zero: workflows.QuotaLiveness).
func quotaWorker(t *testing.T, sweep time.Duration) (client.Client, *runs.Client) {
	c := devservertest.Start(t)
	w := sdkworker.New(c, workflows.TaskQueue, Options())
	w.RegisterWorkflow(workflows.Pipeline)
	w.RegisterWorkflow(workflows.Quota)
	stubActivities(w, "", nil, testRecords(t))
	rc := &runs.Client{Temporal: c, Signer: recordKey, QuotaSweep: sweep}
	bind.Activity(w, contract.QuotaAcquire, rc.QuotaAcquire)
	bind.Activity(w, contract.QuotaEnded, rc.QuotaEnded)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return c, rc
}

// TestInstallationCap: with a cap of 2 runs over every project, a run of
// project b waits while two runs of a (under a's own limit of 5) hold the
// cap's slots, says so, and runs when one of them is cancelled.
func TestInstallationCap(t *testing.T) {
	_, rc := quotaWorker(t, 0)
	ctx := context.Background()
	spec := scenarioSpec(t, "version: 1\nbuild: {commands: [make]}\napproval: {approvers: {users: [bob]}, timeout: 1h, reminder: 30m}\n")
	start := func(project, branch string) runs.Ref {
		return startQuotaRun(t, rc, "acme/"+project, branch, spec, &contract.Governance{Project: project, Quota: &contract.Quota{Runs: 5, All: 2}})
	}
	state := func(ref runs.Ref) workflows.RunState { return runState(t, rc, ref) }
	a1, a2 := start("a", "a1"), start("a", "a2")
	for _, r := range []runs.Ref{a1, a2} {
		poll.Until(t, "a's runs to wait for their approvals", func() bool { return state(r).Phase == "approval" })
	}
	b := start("b", "b1")
	poll.Until(t, "b's run to wait for the cap", func() bool {
		return state(b).Queued == "queued: 1st of all projects (2 running, limit 2)"
	})
	if _, err := rc.Cancel(ctx, a1); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "b's run to take the cancelled run's slot", func() bool {
		st := state(b)
		return st.Queued == "" && st.Phase == "approval"
	})
	all, err := rc.QuotaState(ctx, workflows.AllProjects)
	if err != nil || len(all.Holders) != 2 || !slices.ContainsFunc(all.Holders, func(e contract.Execution) bool { return e.RunID == b.RunID }) {
		t.Fatalf("the cap %+v %v", all, err)
	}
}

// TestTestEnvironmentQuota: with one test environment for project
// payments, a run waiting for its approval holds its environment; a
// second run builds and bakes, then waits at deploy and says so, while a
// run of another project deploys at once; once the first is cancelled
// (its environment deleted) the second deploys.
func TestTestEnvironmentQuota(t *testing.T) {
	_, rc := quotaWorker(t, 0)
	ctx := context.Background()
	spec := scenarioSpec(t, `version: 1
build: {commands: [make]}
bake: {image: 127.0.0.1:5000/acme/hello}
deploy: {manifests: deploy}
approval: {approvers: {users: [bob]}, timeout: 1h, reminder: 30m}
`)
	start := func(project, branch string) runs.Ref {
		return startQuotaRun(t, rc, "acme/"+project, branch, spec, &contract.Governance{Project: project, Quota: &contract.Quota{TestEnvironments: 1}})
	}
	state := func(ref runs.Ref) workflows.RunState { return runState(t, rc, ref) }
	first := start("payments", "one")
	poll.Until(t, "the first run to wait for its approval", func() bool { return state(first).Phase == "approval" })
	second := start("payments", "two")
	poll.Until(t, "the second run to wait at deploy for a test environment", func() bool {
		st := state(second)
		return st.Phase == "deploy" && st.Queued == "queued: 1st of test environments of project payments (1 running, limit 1)"
	})
	other := start("search", "one")
	poll.Until(t, "another project's run to deploy at once", func() bool { return state(other).Phase == "approval" })
	if st := state(second); st.Phase != "deploy" || st.Outputs.Environment != "" {
		t.Fatalf("the second run deployed beside the first: %+v", st)
	}
	if _, err := rc.Cancel(ctx, first); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the second run to deploy once the first's environment is gone", func() bool {
		st := state(second)
		return st.Queued == "" && st.Phase == "approval" && st.Outputs.Environment != ""
	})
	q, err := rc.QuotaState(ctx, workflows.TestEnvironmentsKey("payments"))
	if err != nil || len(q.Holders) != 1 || q.Holders[0].RunID != second.RunID || q.Granted != 2 {
		t.Fatalf("the semaphore %+v %v", q, err)
	}
}

// startQuotaRun starts a run of repo's branch under policy.
func startQuotaRun(t *testing.T, rc *runs.Client, repo, branch string, spec pipelines.Spec, policy *contract.Governance) runs.Ref {
	t.Helper()
	p := push(branch[:1])
	p.Repo, p.Branch = repo, branch
	st, err := rc.Start(context.Background(), workflows.Request{Push: p, Spec: spec, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	return st.Ref
}

// runState is a run's state as its query answers.
func runState(t *testing.T, rc *runs.Client, ref runs.Ref) workflows.RunState {
	t.Helper()
	_, st, err := rc.Status(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
