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

// Amend replaces the input of the newest entry of u with in (an undo that
// has learnt why it will run).
func Amend[In any](s *Saga, u contract.Undo[In], in In) {
	for i := len(s.stack) - 1; i >= 0; i-- {
		if s.stack[i].Activity == u.Name {
			s.stack[i].Input = in
			return
		}
	}
}

// Pending returns the stack, oldest first.
func (s *Saga) Pending() []Undo { return s.stack }

// UndoOptions bound each compensation: a few minutes, retried with backoff;
// a worker lost during one is noticed by its missing heartbeat.
var UndoOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute,
	HeartbeatTimeout:    PlatformHeartbeatTimeout,
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
	dctx := undoContext(ctx)
	var results []UndoResult
	var errs []error
	for i := len(s.stack) - 1; i >= 0; i-- {
		u := s.stack[i]
		if !failed && !u.Always {
			continue
		}
		res, err := settled(ctx, u, workflow.ExecuteActivity(dctx, u.Activity, u.Input).Get(dctx, nil))
		results, errs = append(results, res), append(errs, err)
	}
	s.stack = nil
	return results, errors.Join(errs...)
}

// StartCleanUp starts the stack's Always entries (the cleanup of a run
// that succeeded: independent of each other) all at once, newest first,
// and empties the stack. The returned function waits for them; its
// results and error are Compensate's.
func (s *Saga) StartCleanUp(ctx workflow.Context) func() ([]UndoResult, error) {
	dctx := undoContext(ctx)
	type running struct {
		u Undo
		f workflow.Future
	}
	var all []running
	for i := len(s.stack) - 1; i >= 0; i-- {
		if u := s.stack[i]; u.Always {
			all = append(all, running{u: u, f: workflow.ExecuteActivity(dctx, u.Activity, u.Input)})
		}
	}
	s.stack = nil
	return func() ([]UndoResult, error) {
		var results []UndoResult
		var errs []error
		for _, r := range all {
			res, err := settled(ctx, r.u, r.f.Get(dctx, nil))
			results, errs = append(results, res), append(errs, err)
		}
		return results, errors.Join(errs...)
	}
}

// undoContext is where undo activities run: not cancelled with the
// workflow, with UndoOptions.
func undoContext(ctx workflow.Context) workflow.Context {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	return workflow.WithActivityOptions(dctx, UndoOptions)
}

// settled records how one undo went (metric, log) and returns its result
// and, when it failed, an error naming it.
func settled(ctx workflow.Context, u Undo, err error) (UndoResult, error) {
	outcome := "succeeded"
	if err != nil {
		outcome = "failed"
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"phase": u.Phase, "outcome": outcome}).Counter(MetricCompensations).Inc(1)
	res := UndoResult{Phase: u.Phase, Activity: u.Activity}
	if err == nil {
		return res, nil
	}
	res.Error = err.Error()
	workflow.GetLogger(ctx).Error("compensation failed", "phase", u.Phase, "activity", u.Activity, "error", err)
	return res, fmt.Errorf("undo %s of phase %s: %w", u.Activity, u.Phase, err)
}

// Pop runs the newest entry now, in a context that cancelling the workflow
// cannot cancel, and takes it off the stack. An entry that fails stays on
// the stack for Compensate.
func (s *Saga) Pop(ctx workflow.Context) error {
	if len(s.stack) == 0 {
		return nil
	}
	dctx := undoContext(ctx)
	u := s.stack[len(s.stack)-1]
	if err := workflow.ExecuteActivity(dctx, u.Activity, u.Input).Get(dctx, nil); err != nil {
		return fmt.Errorf("undo %s: %w", u.Activity, err)
	}
	s.stack = s.stack[:len(s.stack)-1]
	return nil
}
