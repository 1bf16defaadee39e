package runs

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/workflows"
)

// DeliverAlert signals an Alertmanager notification to every running Chaos
// workflow (webhooks.AlertDeliverer); each experiment keeps what concerns
// it. An experiment that closed meanwhile is skipped.
func (c *Client) DeliverAlert(ctx context.Context, sig contract.AlertNotification) (int, error) {
	delivered := 0
	var token []byte
	for {
		resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         "WorkflowType = 'Chaos' AND ExecutionStatus = 'Running'",
			NextPageToken: token,
		})
		if err != nil {
			return delivered, fmt.Errorf("list running experiments: %w", err)
		}
		for _, e := range resp.Executions {
			err := c.Temporal.SignalWorkflow(ctx, e.Execution.WorkflowId, e.Execution.RunId, workflows.SignalAlert, sig)
			var notFound *serviceerror.NotFound
			if errors.As(err, &notFound) {
				continue
			}
			if err != nil {
				return delivered, fmt.Errorf("signal experiment %s: %w", e.Execution.WorkflowId, err)
			}
			delivered++
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return delivered, nil
		}
	}
}
