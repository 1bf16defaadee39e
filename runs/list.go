package runs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
)

// Summary is one line of `sluice list`.
type Summary struct {
	Ref     Ref       `json:"ref"`
	RunID   string    `json:"run_id"`
	Status  string    `json:"status"`
	Commit  string    `json:"commit,omitempty"`
	Author  string    `json:"author,omitempty"`
	Started time.Time `json:"started"`
	Closed  time.Time `json:"closed,omitzero"`
}

// List returns the newest pipeline runs, at most limit.
func (c *Client) List(ctx context.Context, limit int) ([]Summary, error) {
	resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query:    "WorkflowType = 'Pipeline'",
		PageSize: int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var out []Summary
	for _, e := range resp.Executions {
		s := Summary{
			Ref:     Ref{e.Execution.WorkflowId, e.Execution.RunId},
			Status:  strings.ToLower(strings.TrimPrefix(e.Status.String(), "WORKFLOW_EXECUTION_STATUS_")),
			Started: e.StartTime.AsTime(),
		}
		s.RunID = s.Ref.String()
		if e.CloseTime != nil {
			s.Closed = e.CloseTime.AsTime()
		}
		if e.Memo != nil {
			for k, p := range e.Memo.Fields {
				var v string
				if converter.GetDefaultDataConverter().FromPayload(p, &v) == nil {
					switch k {
					case "commit":
						s.Commit = v
					case "author":
						s.Author = v
					}
				}
			}
		}
		out = append(out, s)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}
