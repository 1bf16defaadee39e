package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// call runs a typed activity and waits for its result. The reference's type
// parameters make a wrong input or result a compile error.
func call[In, Out any](ctx workflow.Context, a contract.Activity[In, Out], in In) (Out, error) {
	var out Out
	err := workflow.ExecuteActivity(ctx, a.Name, in).Get(ctx, &out)
	return out, err
}

// start runs a typed activity without waiting; the caller may Get the future.
func start[In, Out any](ctx workflow.Context, a contract.Activity[In, Out], in In) workflow.Future {
	return workflow.ExecuteActivity(ctx, a.Name, in)
}
