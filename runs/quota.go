package runs

import (
	"context"
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/workflows"
)

// QuotaAcquire hands a run's ask to its project's Quota workflow, starting
// the workflow when it is not running (the QuotaAcquire activity). Sent
// twice (a retried activity), the ask is recognised by the run.
func (c *Client) QuotaAcquire(ctx context.Context, req contract.QuotaRequest) (contract.Nothing, error) {
	_, err := c.Temporal.SignalWithStartWorkflow(ctx, workflows.QuotaWorkflowID(req.Project), workflows.SignalQuotaAcquire,
		workflows.QuotaAsk{Run: req.Run, Limit: req.Limit},
		client.StartWorkflowOptions{ID: workflows.QuotaWorkflowID(req.Project), TaskQueue: c.queue()},
		workflows.Quota, workflows.QuotaState{Project: req.Project, Limit: req.Limit, Sweep: c.QuotaSweep})
	return contract.Nothing{}, err
}

// QuotaEnded returns the runs among runs that are no longer running (the
// QuotaEnded activity): their slots pass on.
func (c *Client) QuotaEnded(ctx context.Context, runs []contract.Execution) ([]contract.Execution, error) {
	var ended []contract.Execution
	for _, r := range runs {
		d, err := c.Temporal.DescribeWorkflowExecution(ctx, r.WorkflowID, r.RunID)
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			ended = append(ended, r)
		case err != nil:
			return nil, err
		case d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			ended = append(ended, r)
		}
	}
	return ended, nil
}

// QuotaState is a project's semaphore as it stands: its limit, the runs
// holding slots and those waiting, in order.
func (c *Client) QuotaState(ctx context.Context, project string) (workflows.QuotaState, error) {
	var st workflows.QuotaState
	v, err := c.Temporal.QueryWorkflow(ctx, workflows.QuotaWorkflowID(project), "", workflows.QueryQuota)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}
