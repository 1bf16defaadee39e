package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// Undo is one entry on a compensation stack: the activity that undoes what a
// phase did, and its input. Entries are plain data, rebuilt on replay, and
// shown in the run's state.
type Undo struct {
	Phase string `json:"phase"`
	// Activity is the registered name of the compensating activity, taken
	// from its typed reference (contract.Undo), never written by hand.
	Activity string `json:"activity"`
	Input    any    `json:"input"`
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

// Saga is a compensation stack. A workflow pushes the undo of each step that
// changed the world (before the step starts: undos are idempotent, so a step
// that failed half-way is cleaned up too) and calls Compensate when it ends.
// Pipeline, a release strategy child workflow and Chaos each hold one.
// The zero value is ready to use. Not for use from several coroutines at once.
type Saga struct {
	stack []Undo
}

// PushUndo puts u(in) on top of the stack for phase. always marks cleanup
// that also runs after success.
func PushUndo[In any](s *Saga, phase string, u contract.Undo[In], in In, always bool) {
	s.stack = append(s.stack, Undo{Phase: phase, Activity: u.Name, Input: in, Always: always})
}

// Pending returns the stack, oldest first.
func (s *Saga) Pending() []Undo { return s.stack }

// UndoOptions bound each compensation: a few minutes, retried with backoff.
var UndoOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    10,
	},
}

// Compensate runs the stack newest first in a context that cancelling the
// workflow cannot cancel, and empties it. failed selects every entry;
// otherwise only Always entries run. Every entry runs even when an earlier
// one fails; their errors are joined.
func (s *Saga) Compensate(ctx workflow.Context, failed bool) ([]UndoResult, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, UndoOptions)
	var results []UndoResult
	var errs []error
	for i := len(s.stack) - 1; i >= 0; i-- {
		u := s.stack[i]
		if !failed && !u.Always {
			continue
		}
		err := workflow.ExecuteActivity(dctx, u.Activity, u.Input).Get(dctx, nil)
		res := UndoResult{Phase: u.Phase, Activity: u.Activity}
		countUndo(ctx, u, err)
		if err != nil {
			res.Error = err.Error()
			errs = append(errs, fmt.Errorf("undo %s of phase %s: %w", u.Activity, u.Phase, err))
			workflow.GetLogger(ctx).Error("compensation failed", "phase", u.Phase, "activity", u.Activity, "error", err)
		}
		results = append(results, res)
	}
	s.stack = nil
	return results, errors.Join(errs...)
}

// StartCleanUp starts the Always entries of every stack (the cleanup of a
// run that succeeded: independent of each other) all at once and empties
// the stacks. The returned function waits for them and returns the results
// of the first stack's entries, their joined errors and the other stacks'
// joined errors.
func StartCleanUp(ctx workflow.Context, stacks ...*Saga) func() ([]UndoResult, error, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, UndoOptions)
	type running struct {
		u     Undo
		first bool
		f     workflow.Future
	}
	var all []running
	for i, s := range stacks {
		for j := len(s.stack) - 1; j >= 0; j-- {
			if u := s.stack[j]; u.Always {
				all = append(all, running{u: u, first: i == 0, f: workflow.ExecuteActivity(dctx, u.Activity, u.Input)})
			}
		}
		s.stack = nil
	}
	return func() ([]UndoResult, error, error) {
		var results []UndoResult
		var errs, otherErrs []error
		for _, r := range all {
			err := r.f.Get(dctx, nil)
			countUndo(ctx, r.u, err)
			if err != nil {
				workflow.GetLogger(ctx).Error("cleanup failed", "phase", r.u.Phase, "activity", r.u.Activity, "error", err)
				err = fmt.Errorf("undo %s of phase %s: %w", r.u.Activity, r.u.Phase, err)
			}
			if !r.first {
				otherErrs = append(otherErrs, err)
				continue
			}
			res := UndoResult{Phase: r.u.Phase, Activity: r.u.Activity}
			if err != nil {
				res.Error = err.Error()
				errs = append(errs, err)
			}
			results = append(results, res)
		}
		return results, errors.Join(errs...), errors.Join(otherErrs...)
	}
}

// countUndo records one compensation or cleanup in the workflow metrics.
func countUndo(ctx workflow.Context, u Undo, err error) {
	outcome := "succeeded"
	if err != nil {
		outcome = "failed"
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"phase": u.Phase, "outcome": outcome}).Counter(MetricCompensations).Inc(1)
}

// Pop runs the newest entry now, in a context that cancelling the workflow
// cannot cancel, and takes it off the stack. An entry that fails stays on
// the stack for Compensate.
func (s *Saga) Pop(ctx workflow.Context) error {
	if len(s.stack) == 0 {
		return nil
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, UndoOptions)
	u := s.stack[len(s.stack)-1]
	if err := workflow.ExecuteActivity(dctx, u.Activity, u.Input).Get(dctx, nil); err != nil {
		return fmt.Errorf("undo %s: %w", u.Activity, err)
	}
	s.stack = s.stack[:len(s.stack)-1]
	return nil
}
