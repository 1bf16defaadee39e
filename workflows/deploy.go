package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// deployPhase deploys the baked digest to the run's ephemeral test
// environment (deleted when the run ends, whatever the outcome) or, as a
// release with staging's strategy, to the long-lived staging namespace
// (the previous release brought back if the run fails later).
var deployPhase = phaseDef{
	name:      pipelines.PhaseDeploy,
	progress:  true,
	heartbeat: PlatformHeartbeatTimeout,
	run: func(r *run, ctx workflow.Context) error {
		spec := &r.in.Spec
		in := contract.DeployInput{
			RunID: r.runID, Source: r.source(), Image: r.st.Outputs.Image, Digest: r.st.Outputs.Digest,
			Manifests: spec.Deploy.Manifests, Secrets: r.secrets(pipelines.PhaseDeploy, spec.Deploy.Secrets),
		}
		if spec.Deploy.Environment == "staging" {
			st := spec.Environments.Staging
			in.Namespace, in.Guard = st.Namespace, r.governance().Staging
			if r.version(ctx, "staging-release", stagingRelease) >= stagingRelease {
				in.Pipeline, in.Context, in.Strategy = spec.Name, st.Context, st.Strategy
				PushUndo(&r.saga, pipelines.PhaseDeploy, contract.UndoRelease,
					contract.ReleaseRef{RunID: r.runID, Pipeline: spec.Name, Namespace: st.Namespace, Context: st.Context, Guard: in.Guard}, false)
			}
		} else {
			if err := r.acquireTestEnvironment(ctx); err != nil {
				return err
			}
			in.Namespace, in.Ephemeral, in.Guard = r.testNamespace(spec.Name), true, r.governance().Test
			in.Pipeline, in.WorkflowID = spec.Name, workflow.GetInfo(ctx).WorkflowExecution.ID
			if t := spec.Environments.Test; t != nil {
				in.TTL, in.CPU, in.Memory, in.Services = t.TTL.D(), t.Quota.CPU, t.Quota.Memory, t.Services
			}
			PushUndo(&r.saga, pipelines.PhaseDeploy, contract.DeleteEnvironment,
				contract.EnvironmentRef{RunID: r.runID, Namespace: in.Namespace}, true)
		}
		if _, err := call(ctx, contract.Deploy, in); err != nil {
			return err
		}
		r.st.Outputs.Environment = in.Namespace
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.Environment = src.Environment },
}

// testNamespace is the run's test namespace, as its epoch names it.
func (r *run) testNamespace(pipeline string) string {
	if r.epoch >= uniqueNamespace {
		return TestNamespace(pipeline, r.runID)
	}
	return testNamespaceBefore4(pipeline, r.runID)
}

// governance is what the server's policy decided for the run; a request
// recorded before policies has the zero Governance (the guards' defaults).
func (r *run) governance() contract.Governance {
	if r.in.Policy == nil {
		return contract.Governance{}
	}
	return *r.in.Policy
}
