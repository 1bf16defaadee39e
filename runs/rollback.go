package runs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/workflows"
)

// StartRollback starts a Rollback run; one at a time per pipeline and
// namespace.
func (c *Client) StartRollback(ctx context.Context, in workflows.RollbackInput) (Ref, error) {
	id := workflows.RollbackWorkflowID(in.Namespace, in.Pipeline)
	run, err := c.startOne(ctx, id, map[string]any{"pipeline": in.Pipeline, "namespace": in.Namespace, "by": in.By},
		fmt.Sprintf("a rollback of %s in %s", in.Pipeline, in.Namespace), workflows.Rollback, in)
	if err != nil {
		return Ref{}, err
	}
	return Ref{WorkflowID: id, RunID: run.GetRunID()}, nil
}

// startOne starts workflow fn as id unless a run of id is going (then
// ErrRefused naming what, the run going on).
func (c *Client) startOne(ctx context.Context, id string, memo map[string]any, what string, fn, in any) (client.WorkflowRun, error) {
	run, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                c.queue(),
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo:                                     memo,
	}, fn, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return nil, fmt.Errorf("%w: %s is running (%s@%s); wait for it", ErrRefused, what, id, already.RunId)
	}
	return run, err
}

// RollbackState asks a Rollback run for its state.
func (c *Client) RollbackState(ctx context.Context, r Ref) (workflows.RollbackState, error) {
	var st workflows.RollbackState
	v, err := c.Temporal.QueryWorkflow(ctx, r.WorkflowID, r.RunID, workflows.QueryState)
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return st, fmt.Errorf("%w: %s (list rollbacks with `sluice releases`)", ErrNotFound, r)
		}
		return st, err
	}
	return st, v.Get(&st)
}

// RollbackResult waits for a Rollback run's end.
func (c *Client) RollbackResult(ctx context.Context, r Ref) (workflows.RollbackResult, error) {
	var res workflows.RollbackResult
	err := c.Temporal.GetWorkflow(ctx, r.WorkflowID, r.RunID).Get(ctx, &res)
	return res, err
}

// RollbackStatus is a Rollback run as `sluice status` shows it: its
// state (who asked, its approval) and how it ended.
type RollbackStatus struct {
	workflows.RollbackState
	// State is awaiting_approval, running, succeeded, failed, cancelled,
	// terminated or timed_out.
	State  string                    `json:"state"`
	Result *workflows.RollbackResult `json:"result,omitempty"`
	Error  string                    `json:"error,omitempty"`
}

// RollbackStatus describes a Rollback run.
func (c *Client) RollbackStatus(ctx context.Context, r Ref) (Ref, RollbackStatus, error) {
	r, d, err := c.Resolve(ctx, r)
	if err != nil {
		return r, RollbackStatus{}, err
	}
	var out RollbackStatus
	if st, err := c.RollbackState(ctx, r); err == nil {
		out.RollbackState = st
	}
	switch d.WorkflowExecutionInfo.Status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		out.State = workflows.StateRunning
		if out.Status == workflows.RollbackAwaitingApproval {
			out.State = workflows.StateAwaitingApproval
		}
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		res, err := c.RollbackResult(ctx, r)
		if err != nil {
			return r, out, err
		}
		out.State, out.Result = workflows.StateSucceeded, &res
	default:
		out.State = strings.ToLower(strings.TrimPrefix(d.WorkflowExecutionInfo.Status.String(), "WORKFLOW_EXECUTION_STATUS_"))
		if out.State == "canceled" {
			out.State = workflows.StateCancelled
		}
		if _, err := c.RollbackResult(ctx, r); err != nil {
			out.Error = FailureMessage(err)
		}
	}
	return r, out, nil
}

// FailureMessage is what a run's failure says without Temporal's wrappers
// (activity ids, event ids, worker identities): the workflow's own words,
// then the innermost cause's.
func FailureMessage(err error) string {
	var outer, inner *temporal.ApplicationError
	for e := err; e != nil; {
		var a *temporal.ApplicationError
		if !errors.As(e, &a) {
			break
		}
		if outer == nil {
			outer = a
		}
		inner, e = a, a.Unwrap()
	}
	if outer == nil {
		return err.Error()
	}
	msg := outer.Message()
	if inner != outer {
		if i := strings.Index(msg, ": activity error ("); i >= 0 {
			msg = msg[:i]
		}
		msg += ": " + inner.Message()
	}
	return msg
}
