package worker

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/contract/bind"
	"github.com/sluice-cd/sluice/devserver/devservertest"
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
	start := func(branch string) runs.Ref {
		p := push(branch[:1])
		p.Branch = branch
		st, err := rc.Start(ctx, workflows.Request{Push: p, Spec: spec, Policy: policy})
		if err != nil {
			t.Fatal(err)
		}
		return st.Ref
	}
	state := func(ref runs.Ref) workflows.RunState {
		_, st, err := rc.Status(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
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
