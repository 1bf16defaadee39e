package workflows

import (
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// DispatchWorkflowID is the ID of the Dispatch workflow of one pushed commit
// on one branch. Temporal refuses a second workflow with the same ID for as
// long as it keeps the first (the namespace's retention), which makes a
// redelivered webhook a no-op however many copies arrive at once — and also
// a captured push re-sent with a new delivery id (that header is not
// signed). The repository is case-folded (GitHub and GitLab names are
// case-insensitive) and each part is escaped, so no two pushes share an ID.
func DispatchWorkflowID(provider, repo, branch, commit string) string {
	return "dispatch/" + provider + "/" + url.PathEscape(strings.ToLower(repo)) + "/" + url.PathEscape(branch) + "/" + commit
}

// DispatchResult says what happened to the delivery's push.
type DispatchResult = contract.DispatchResult

// Dispatch durably hands one webhook push to its branch's pipeline: it is
// started as soon as the delivery is accepted and retries the start until
// Temporal and the branch's run take it.
func Dispatch(ctx workflow.Context, req Request) (DispatchResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	})
	return call(ctx, contract.StartPipeline, req)
}
