package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// Workflow versions of commit status reporting ("commit-status" change id).
// Runs recorded before version 1 replay without statuses.
const (
	// commitStatusQueued (1) also sent "pending: queued" at start, which
	// could reach the host after the first "running".
	commitStatusQueued = 1
	// commitStatusVersion (2) starts with the first phase's "running".
	commitStatusVersion = 2
)

var statusOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    15 * time.Second,
	ScheduleToCloseTimeout: 2 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    20 * time.Second,
	},
}

// commitStatus reports the run's state on the commit. Progress updates are
// not waited for (so two may reach the host out of order; they are all
// "running"); the final one is sent after every phase has ended and waited
// for at most a minute, so a Git host that is down never fails or stalls a run.
func (r *run) commitStatus(ctx workflow.Context, state, description string, wait bool) {
	if r.statusVersion < commitStatusQueued {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	opts := statusOptions
	if wait {
		opts.ScheduleToCloseTimeout = time.Minute
	}
	p := r.in.Push
	f := start(workflow.WithActivityOptions(dctx, opts), contract.SetCommitStatus, contract.StatusInput{
		WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, RunID: r.runID, Repo: p.Repo, Commit: p.Commit,
		State: state, Description: description,
	})
	if wait {
		if err := f.Get(dctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("commit status not delivered", "state", state, "error", err)
		}
	}
}

func finalStatus(st RunState) (string, string) {
	if st.State == StateSucceeded {
		return contract.StatusSuccess, "pipeline succeeded"
	}
	desc := st.State
	if st.Phase != "" {
		desc += " in " + st.Phase
	}
	return contract.StatusFailure, desc
}
