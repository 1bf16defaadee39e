package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/gitstatus"
)

// commitStatusVersion is the workflow version that reports commit statuses.
// Runs recorded before it replay without them.
const commitStatusVersion = 1

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
// not waited for; the final one is waited for at most a minute, so a Git
// host that is down never fails or stalls a run.
func (r *run) commitStatus(ctx workflow.Context, state, description string, wait bool) {
	if r.statusVersion < commitStatusVersion {
		return
	}
	var cs *activities.CommitStatus
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	opts := statusOptions
	if wait {
		opts.ScheduleToCloseTimeout = time.Minute
	}
	p := r.in.Push
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, opts), cs.SetStatus, activities.StatusInput{
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
		return gitstatus.Success, "pipeline succeeded"
	}
	desc := st.State
	if st.Phase != "" {
		desc += " in " + st.Phase
	}
	return gitstatus.Failure, desc
}
