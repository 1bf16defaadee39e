package runs

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/api/serviceerror"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/workflows"
)

// ResumePoint returns where a retry of a finished run starts and the
// outputs it keeps: at the failed phase, or earlier when a phase before it
// was compensated (its effect is gone and must be redone).
func ResumePoint(st workflows.RunState) (string, workflows.Outputs, error) {
	switch st.State {
	case workflows.StateFailed, workflows.StateCancelled, workflows.StateTimedOut:
	default:
		return "", workflows.Outputs{}, fmt.Errorf("only failed, cancelled or timed-out runs can be retried; this run is %s", st.State)
	}
	phase := ""
	for _, p := range st.Phases {
		if p.Status == workflows.PhaseCompensated || p.Status == workflows.PhaseFailed || p.Status == workflows.PhaseCancelled {
			phase = p.Name
			break
		}
	}
	if phase == "" {
		for _, p := range st.Phases {
			if p.Status == workflows.PhasePending {
				phase = p.Name
				break
			}
		}
	}
	if phase == "" {
		return "", workflows.Outputs{}, errors.New("run has no failed phase to retry")
	}
	// An approval is for one release attempt: a retry that would release
	// again asks again, unless the spec says approvals carry over.
	if a := st.Request.Spec.Approval; a != nil && !a.KeepOnRetry &&
		slices.Index(pipelines.PhaseOrder, phase) > slices.Index(pipelines.PhaseOrder, pipelines.PhaseApproval) {
		phase = pipelines.PhaseApproval
	}
	return phase, workflows.OutputsBefore(phase, st.Outputs), nil
}

// Retry starts a new run of a finished run's push from its resume point.
// It refuses while another run of the branch is active, so a retry never
// cancels newer work. rebuild, when set, makes the retry's request from
// the old one (the server builds it anew under today's policy); nil keeps
// the old request.
func (c *Client) Retry(ctx context.Context, r Ref, rebuild func(contract.Request) (contract.Request, error)) (Started, error) {
	r, st, err := c.Status(ctx, r)
	if err != nil {
		return Started{}, err
	}
	phase, outputs, err := ResumePoint(st)
	if err != nil {
		return Started{}, fmt.Errorf("retry %s: %w", r, err)
	}
	req := st.Request
	if rebuild != nil {
		if req, err = rebuild(st.Request); err != nil {
			return Started{}, err
		}
	}
	in := workflows.PipelineInput{Request: req, Groups: c.Groups,
		Resume: &workflows.Resume{FromRun: r.String(), Phase: phase, Outputs: outputs}}
	run, err := c.startNew(ctx, r.WorkflowID, in)
	if err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			return Started{}, fmt.Errorf("branch has an active run %s@%s: cancel it or wait before retrying", r.WorkflowID, already.RunId)
		}
		return Started{}, fmt.Errorf("retry %s: %w", r, err)
	}
	return Started{Ref: Ref{r.WorkflowID, run.GetRunID()}, Action: "retrying from " + phase, Previous: &r}, nil
}
