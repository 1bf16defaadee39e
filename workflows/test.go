package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// testPhase runs the unit tests in the build's workspace (a fresh one when
// the spec has no build) and records their summary; a spec with jobs runs
// them instead (jobs.go).
var testPhase = phaseDef{
	name:      pipelines.PhaseTest,
	progress:  true,
	heartbeat: StepHeartbeatTimeout,
	run: func(r *run, ctx workflow.Context) error {
		t := r.in.Spec.Test
		if len(t.Jobs) > 0 {
			return r.jobs(ctx, pipelines.PhaseTest, r.planJobs(pipelines.PhaseTest, t.Jobs, t.Env, t.Timeout, t.Secrets), pipelines.FailsFast(t.FailFast))
		}
		pool := ""
		if b := r.in.Spec.Build; b != nil {
			pool = b.Pool
		}
		in := contract.StepsInput{
			RunID: r.runID, Phase: pipelines.PhaseTest, Source: r.source(), Pool: pool,
			Workspace: r.st.Outputs.Workspace, Commands: t.Commands, Env: r.stepEnv(t.Env), Timeout: t.Timeout.D(), JUnit: t.JUnit,
			Secrets: r.secrets(pipelines.PhaseTest, t.Secrets), Fetch: r.buildJobArtifacts(),
		}
		in.Project, in.PoolShare = r.poolShare(pool)
		res, err := call(ctx, contract.RunSteps, in)
		if err != nil {
			return err
		}
		r.st.Outputs.Workspace = res.Workspace
		r.st.Outputs.TestSummary = res.Summary
		r.releasePod(ctx)
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.TestSummary = src.TestSummary },
}

// podReleaseAfterTest versions giving a build pod back when test passes
// ("pod-release-after-test" change id) instead of when the run ends: the
// pool's pods are not held through days of approval. Nothing after test
// reads the workspace (bake fetches the commit itself).
const podReleaseAfterTest = 1

// releasePod releases a pod workspace now that its phases are done. A
// failed release is logged: the pod's lease expires and the pool's keeper
// deletes it anyway.
func (r *run) releasePod(ctx workflow.Context) {
	ws := r.st.Outputs.Workspace
	if ws.Kind != contract.WorkspacePod {
		return
	}
	if r.version(ctx, "pod-release-after-test", podReleaseAfterTest) < podReleaseAfterTest {
		return
	}
	var now Saga
	PushUndo(&now, pipelines.PhaseTest, contract.ReleaseWorkspace, contract.WorkspaceRef{RunID: r.runID, Workspace: ws}, true)
	if _, err := now.Compensate(ctx, false); err != nil {
		workflow.GetLogger(ctx).Warn("build pod release failed; its lease will expire", "pod", ws.Pod, "error", err)
		return
	}
	r.st.Outputs.Workspace = contract.Workspace{}
}
