package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/activities"
)

// Undo is one entry on a run's compensation stack: the activity that undoes
// what a phase did, and its input. Entries are plain data so the stack lives
// in workflow state and survives crashes and replays.
type Undo struct {
	Phase string `json:"phase"`
	// Activity is the registered name of the compensating activity.
	Activity string               `json:"activity"`
	Input    activities.UndoInput `json:"input"`
	// Always marks cleanup that runs when the run succeeds too (deleting the
	// ephemeral test environment); other entries run only on failure,
	// cancellation and supersede.
	Always bool `json:"always,omitempty"`
}

// UndoResult records one compensation that ran.
type UndoResult struct {
	Phase    string `json:"phase"`
	Activity string `json:"activity"`
	Error    string `json:"error,omitempty"`
}

var undoOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    10,
	},
}

// compensate runs the stack newest first in a context that a cancelled run
// cannot cancel. failed selects all entries; otherwise only Always entries
// run. Every entry runs even when an earlier one fails; their errors are
// joined.
func compensate(ctx workflow.Context, stack []Undo, failed bool) ([]UndoResult, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, undoOptions)
	var results []UndoResult
	var errs []error
	for i := len(stack) - 1; i >= 0; i-- {
		u := stack[i]
		if !failed && !u.Always {
			continue
		}
		err := workflow.ExecuteActivity(dctx, u.Activity, u.Input).Get(dctx, nil)
		res := UndoResult{Phase: u.Phase, Activity: u.Activity}
		if err != nil {
			res.Error = err.Error()
			errs = append(errs, fmt.Errorf("undo %s of phase %s: %w", u.Activity, u.Phase, err))
			workflow.GetLogger(ctx).Error("compensation failed", "phase", u.Phase, "activity", u.Activity, "error", err)
		}
		results = append(results, res)
	}
	return results, errors.Join(errs...)
}
