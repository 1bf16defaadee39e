package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// ScheduleID is the Temporal Schedule of `sluice schedule create NAME`.
func ScheduleID(name string) string { return "schedule/" + name }

// ScheduledWorkflowID is the ID of the Scheduled workflow a schedule starts;
// Temporal appends the time each one was due.
func ScheduledWorkflowID(name string) string { return "scheduled/" + name }

// Scheduled is what a schedule starts: one activity that builds the run's
// request from the branch's head at that moment (under the worker's
// configuration and the project's policy) and starts it as `sluice run`
// would. It retries while the repository or Temporal cannot be reached,
// for up to an hour; a spec that is invalid at that commit fails it.
func Scheduled(ctx workflow.Context, in contract.ScheduledRun) (DispatchResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Minute,
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: contract.NonRetryable(),
		},
	})
	return call(ctx, contract.StartScheduled, in)
}
