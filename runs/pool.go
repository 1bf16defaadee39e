package runs

import (
	"context"

	"github.com/sluice-cd/sluice/workflows"
)

// SizePool runs a PoolSize workflow (one per pool at a time) and waits
// for its result: a worker with the pool's cluster does the sizing.
func (c *Client) SizePool(ctx context.Context, in workflows.PoolSizeInput) (Ref, workflows.PoolSizeResult, error) {
	var res workflows.PoolSizeResult
	id := workflows.PoolSizeWorkflowID(in.Pool)
	run, err := c.startOne(ctx, id, map[string]any{"pool": in.Pool, "by": in.By}, "a sizing of pool "+in.Pool, workflows.PoolSize, in)
	if err != nil {
		return Ref{}, res, err
	}
	ref := Ref{WorkflowID: id, RunID: run.GetRunID()}
	return ref, res, run.Get(ctx, &res)
}
