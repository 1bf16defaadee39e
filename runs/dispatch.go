package runs

import (
	"context"
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/workflows"
)

// Dispatcher is the activity behind the Dispatch workflow.
type Dispatcher struct{ Client *Client }

// StartPipeline starts or hands over the push (contract.StartPipeline).
func (d *Dispatcher) StartPipeline(ctx context.Context, req workflows.Request) (workflows.DispatchResult, error) {
	s, err := d.Client.Start(ctx, req)
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		// a name Temporal refuses is refused on every retry too
		return workflows.DispatchResult{}, temporal.NewNonRetryableApplicationError("start pipeline: "+invalid.Error(), "InvalidArgument", err)
	}
	if err != nil {
		return workflows.DispatchResult{}, err
	}
	return workflows.DispatchResult{WorkflowID: s.Ref.WorkflowID, RunID: s.Ref.RunID, Action: s.Action}, nil
}

// Dispatch records an accepted push durably by starting its Dispatch
// workflow, named after the push (provider, repository, branch, commit):
// a redelivery or a replay of the same push finds it started and is a
// duplicate, for as long as Temporal keeps the record.
func (c *Client) Dispatch(ctx context.Context, provider string, req workflows.Request) (string, bool, error) {
	p := req.Push
	id := workflows.DispatchWorkflowID(provider, p.Key(), p.Branch, p.Commit)
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                c.queue(),
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.Dispatch, req)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return id, true, nil
	}
	if err != nil {
		return "", false, err
	}
	return id, false, nil
}
