package runs

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/workflows"
)

// ChaosScheduleID is the Temporal Schedule of an experiment's recurring runs.
func ChaosScheduleID(experiment string) string { return "chaos-schedule/" + experiment }

// chaosMemo records the target namespace (whose project may act on the
// experiment) and who started it.
func chaosMemo(in workflows.ChaosInput, by string) map[string]any {
	return map[string]any{"namespace": in.Experiment.Namespace, "by": by}
}

// StartChaos starts an experiment; its id is chaos/NAME/TIME.
func (c *Client) StartChaos(ctx context.Context, in workflows.ChaosInput, by string) (Ref, error) {
	id := fmt.Sprintf("chaos/%s/%s", in.Experiment.Name, time.Now().UTC().Format("20060102T150405.000"))
	run, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: c.queue(), Memo: chaosMemo(in, by),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.Chaos, in)
	if err != nil {
		return Ref{}, err
	}
	return Ref{WorkflowID: id, RunID: run.GetRunID()}, nil
}

// ChaosNamespace is the namespace an experiment targets, as recorded when
// it started ("" for one started before experiments recorded it).
func (c *Client) ChaosNamespace(ctx context.Context, id string) (string, error) {
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return "", chaosNotFound(fmt.Sprintf("no experiment %q (the id `sluice chaos run` printed, like chaos/NAME/TIME)", id), err)
	}
	return memoString(d.GetWorkflowExecutionInfo().GetMemo().GetFields()["namespace"]), nil
}

// CancelChaos cancels an experiment; its faults are removed before it closes.
func (c *Client) CancelChaos(ctx context.Context, id string) error {
	return chaosNotFound(fmt.Sprintf("no experiment %q (the id `sluice chaos run` printed, like chaos/NAME/TIME)", id), c.Temporal.CancelWorkflow(ctx, id, ""))
}

// ScheduleChaos makes an experiment recur every interval (a run still
// going when the next is due is skipped); now also runs it at once.
func (c *Client) ScheduleChaos(ctx context.Context, in workflows.ChaosInput, every time.Duration, now bool, by string) (string, error) {
	id := ChaosScheduleID(in.Experiment.Name)
	_, err := c.Temporal.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:                 id,
		Spec:               client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Overlap:            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		TriggerImmediately: now,
		Memo:               chaosMemo(in, by),
		Action: &client.ScheduleWorkflowAction{
			ID: "chaos/" + in.Experiment.Name + "/scheduled", Workflow: workflows.Chaos, Args: []any{in}, TaskQueue: c.queue(),
			Memo: chaosMemo(in, by),
		},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return "", fmt.Errorf("%w: experiment %s is scheduled already; remove it with `sluice chaos unschedule %s`", ErrRefused, in.Experiment.Name, in.Experiment.Name)
	}
	return id, err
}

// ScheduleNamespace is the namespace a scheduled experiment targets.
func (c *Client) ScheduleNamespace(ctx context.Context, name string) (string, error) {
	d, err := c.Temporal.ScheduleClient().GetHandle(ctx, ChaosScheduleID(name)).Describe(ctx)
	if err != nil {
		return "", chaosNotFound(fmt.Sprintf("no experiment %q is scheduled", name), err)
	}
	if d.Memo == nil {
		return "", nil
	}
	return memoString(d.Memo.GetFields()["namespace"]), nil
}

// Unschedule stops an experiment's recurring runs.
func (c *Client) Unschedule(ctx context.Context, name string) error {
	return chaosNotFound(fmt.Sprintf("no experiment %q is scheduled", name), c.Temporal.ScheduleClient().GetHandle(ctx, ChaosScheduleID(name)).Delete(ctx))
}

// chaosNotFound says msg for Temporal's NotFound (ErrNotFound).
func chaosNotFound(msg string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%s (%w)", msg, ErrNotFound)
	}
	return err
}

// ChaosStatus is an experiment's state: its timeline, observations,
// notifications and verdict.
func (c *Client) ChaosStatus(ctx context.Context, id string) (workflows.ChaosState, error) {
	var st workflows.ChaosState
	v, err := c.Temporal.QueryWorkflow(ctx, id, "", workflows.QueryState)
	if err != nil {
		return st, chaosNotFound("no experiment "+id, err)
	}
	return st, v.Get(&st)
}

// memoString decodes a memo field written as a string.
func memoString(p *commonpb.Payload) string {
	var s string
	if p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
	}
	return s
}
