package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// RollbackInput and RollbackResult are the Rollback workflow's.
type (
	RollbackInput  = contract.RollbackInput
	RollbackResult = contract.RollbackResult
)

// RollbackTimeout bounds a rollback's release, its rollout included.
const RollbackTimeout = 30 * time.Minute

// RollbackWorkflowID names the rollback of a pipeline's production
// release in a namespace: one at a time.
func RollbackWorkflowID(namespace, pipeline string) string {
	return "rollback/" + ASCIIID(strings.ToLower(namespace)) + "/" + ASCIIID(pipeline)
}

// IsRollbackID tells a Rollback run's workflow id.
func IsRollbackID(id string) bool { return strings.HasPrefix(id, "rollback/") }

// Rollback makes an earlier production release live again, as a durable
// run: who asked and why (verified by the server) are its input, so the
// history records them; the release record names them too. Under a rule
// that asks for approval, nothing changes until production's approvers
// (never the requester) approve through the server. A worker lost
// mid-rollback is replaced and the release goes on; the release itself
// undoes a rollout that fails.
func Rollback(ctx workflow.Context, in RollbackInput) (res RollbackResult, err error) {
	if in.By == "" {
		return RollbackResult{}, temporal.NewNonRetryableApplicationError("a rollback names who asked for it", contract.ErrInvalidInput, nil)
	}
	st := &RollbackState{Pipeline: in.Pipeline, Namespace: in.Namespace, Project: in.Project, By: in.By, Status: RollbackRollingBack}
	started := workflow.Now(ctx)
	defer func() { recordRollback(ctx, in, st, started, res, err) }()
	gate, err := registerRollback(ctx, in, st)
	if err != nil {
		return RollbackResult{}, err
	}
	if gate != nil {
		if err := gate.wait(ctx); err != nil {
			return RollbackResult{}, err // a non-retryable failure of its own type
		}
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: RollbackTimeout,
		HeartbeatTimeout:    PlatformHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: contract.NonRetryable(),
		},
	})
	res, err = call(ctx, contract.RollbackRelease, in)
	if err != nil {
		return res, fmt.Errorf("rollback of %s in %s: %w", in.Pipeline, in.Namespace, err)
	}
	workflow.GetLogger(ctx).Info("rolled back", "pipeline", in.Pipeline, "version", res.Version, "of", res.RollbackOf, "by", in.By)
	return res, nil
}
