package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// call runs a typed activity and waits for its result. The reference's type
// parameters make a wrong input or result a compile error. A phase's
// activity gets the phase's progress report (set on ctx by phaseStatus)
// when its input carries one (contract.PhaseProgress).
func call[In, Out any](ctx workflow.Context, a contract.Activity[In, Out], in In) (Out, error) {
	if p, ok := ctx.Value(progressKey{}).(*contract.Progress); ok {
		if s, ok := any(&in).(interface{ SetProgress(*contract.Progress) }); ok {
			s.SetProgress(p)
		}
	}
	var out Out
	err := workflow.ExecuteActivity(ctx, a.Name, in).Get(ctx, &out)
	return out, err
}

// start runs a typed activity without waiting; the caller may Get the future.
func start[In, Out any](ctx workflow.Context, a contract.Activity[In, Out], in In) workflow.Future {
	return workflow.ExecuteActivity(ctx, a.Name, in)
}

// startLocal runs a typed activity as a local activity (in the workflow
// task, recorded as a marker) without waiting.
func startLocal[In, Out any](ctx workflow.Context, a contract.Activity[In, Out], in In) workflow.Future {
	return workflow.ExecuteLocalActivity(ctx, a.Name, in)
}
