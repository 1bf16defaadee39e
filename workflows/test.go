package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// testPhase runs the unit tests in the build's workspace (a fresh one when
// the spec has no build) and records their summary.
var testPhase = phaseDef{
	name:      pipelines.PhaseTest,
	heartbeat: StepHeartbeatTimeout,
	run: func(r *run, ctx workflow.Context) error {
		t := r.in.Spec.Test
		pool := ""
		if b := r.in.Spec.Build; b != nil {
			pool = b.Pool
		}
		res, err := call(ctx, contract.RunSteps, contract.StepsInput{
			RunID: r.runID, Phase: pipelines.PhaseTest, Source: r.source(), Pool: pool,
			Workspace: r.st.Outputs.Workspace, Commands: t.Commands, Env: t.Env, Timeout: t.Timeout.D(), JUnit: t.JUnit,
		})
		if err != nil {
			return err
		}
		r.st.Outputs.Workspace = res.Workspace
		r.st.Outputs.TestSummary = res.Summary
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.TestSummary = src.TestSummary },
}
