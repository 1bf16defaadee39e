package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// buildPhase checks the commit out (on the spec's pool when it names one)
// and runs the build commands there. The workspace it leaves is the input of
// test and bake.
var buildPhase = phaseDef{
	name:      pipelines.PhaseBuild,
	progress:  true,
	heartbeat: StepHeartbeatTimeout,
	run: func(r *run, ctx workflow.Context) error {
		b := r.in.Spec.Build
		if len(b.Jobs) > 0 {
			return r.jobs(ctx, pipelines.PhaseBuild, r.planJobs(pipelines.PhaseBuild, b.Jobs, b.Env, b.Timeout, b.Secrets), pipelines.FailsFast(b.FailFast))
		}
		in := contract.StepsInput{
			RunID: r.runID, Phase: pipelines.PhaseBuild, Source: r.source(), Pool: b.Pool,
			Workspace: r.st.Outputs.Workspace, Commands: b.Commands, Env: r.stepEnv(b.Env), Timeout: b.Timeout.D(),
			Secrets: r.secrets(pipelines.PhaseBuild, b.Secrets),
		}
		in.Project, in.PoolShare = r.poolShare(b.Pool)
		if len(b.Artifacts) > 0 && r.in.Spec.Bake != nil {
			in.Artifacts, in.ArtifactRepo = b.Artifacts, r.in.Spec.Bake.Image
		}
		res, err := call(ctx, contract.RunSteps, in)
		if err != nil {
			return err
		}
		r.st.Outputs.Workspace, r.st.Outputs.Artifacts = res.Workspace, res.Artifacts
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.Workspace, dst.Artifacts = src.Workspace, src.Artifacts },
}
