package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// integrationPhase runs the integration suite against the deployment.
var integrationPhase = phaseDef{
	name:      pipelines.PhaseIntegration,
	progress:  true,
	heartbeat: PlatformHeartbeatTimeout,
	run: func(r *run, ctx workflow.Context) error {
		it := r.in.Spec.Integration
		res, err := call(ctx, contract.Integration, contract.IntegrationInput{
			RunID: r.runID, Namespace: r.st.Outputs.Environment, Image: it.Image, Commands: it.Commands, Env: it.Env, JUnit: it.JUnit,
			Secrets: r.secrets(pipelines.PhaseIntegration, it.Secrets),
			Subject: r.st.Outputs.Image, Digest: r.st.Outputs.Digest, Commit: r.in.Push.Commit,
		})
		if err != nil {
			return err
		}
		r.st.Outputs.IntegrationSummary = res.Summary
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.IntegrationSummary = src.IntegrationSummary },
}
