package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// PoolSizeInput and PoolSizeResult are the PoolSize workflow's.
type (
	PoolSizeInput  = contract.PoolSizeInput
	PoolSizeResult = contract.PoolSizeResult
)

// PoolSizeWorkflowID names the sizing of a pool: one at a time.
func PoolSizeWorkflowID(pool string) string { return "pool/" + ASCIIID(pool) }

// PoolSize sizes a warm build-pod pool on a worker (which holds the
// cluster's credentials; the server does not), as a run whose history
// records who asked and what was done.
func PoolSize(ctx workflow.Context, in PoolSizeInput) (PoolSizeResult, error) {
	if in.By == "" || in.Pool == "" {
		return PoolSizeResult{}, temporal.NewNonRetryableApplicationError("sizing a pool names the pool and who asked", contract.ErrInvalidInput, nil)
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: contract.NonRetryable(),
		},
	})
	res, err := call(ctx, contract.SizePool, in)
	if err != nil {
		return res, fmt.Errorf("pool %s: %w", in.Pool, err)
	}
	workflow.GetLogger(ctx).Info("pool sized", "pool", in.Pool, "min_idle", res.MinIdle, "deleted", res.Deleted, "by", in.By)
	return res, nil
}
