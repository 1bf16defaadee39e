package runs

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/workflows"
)

// StartRollback starts a Rollback run; one at a time per pipeline and
// namespace.
func (c *Client) StartRollback(ctx context.Context, in workflows.RollbackInput) (Ref, error) {
	id := workflows.RollbackWorkflowID(in.Namespace, in.Pipeline)
	run, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                c.queue(),
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo:                                     map[string]any{"pipeline": in.Pipeline, "namespace": in.Namespace, "by": in.By},
	}, workflows.Rollback, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return Ref{}, fmt.Errorf("%w: a rollback of %s in %s is running (%s@%s); wait for it", ErrRefused, in.Pipeline, in.Namespace, id, already.RunId)
	}
	if err != nil {
		return Ref{}, err
	}
	return Ref{WorkflowID: id, RunID: run.GetRunID()}, nil
}

// RollbackResult waits for a Rollback run's end.
func (c *Client) RollbackResult(ctx context.Context, r Ref) (workflows.RollbackResult, error) {
	var res workflows.RollbackResult
	err := c.Temporal.GetWorkflow(ctx, r.WorkflowID, r.RunID).Get(ctx, &res)
	return res, err
}
