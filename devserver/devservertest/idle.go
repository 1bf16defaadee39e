package devservertest

import (
	"context"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// Idle says whether a run waits with nothing to do, asking the server
// alone: running, past its first workflow task, with no workflow task or
// activity pending (a run whose only phase is approval then waits for its
// decision; a workflow parked on a signal, for the signal). A query would
// make a worker replay the runs it does not cache, which benchmarks of a
// worker's memory must not cause.
func Idle(ctx context.Context, c client.Client, workflowID, runID string) bool {
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return false
	}
	info := d.GetWorkflowExecutionInfo()
	return info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && info.GetHistoryLength() > 3 &&
		d.GetPendingWorkflowTask() == nil && len(d.GetPendingActivities()) == 0
}
