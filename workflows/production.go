package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// releaseVersion gates the real release: version 1 puts UndoRelease on the
// compensation stack before releasing, keeps a blue-green release's old
// color for production.grace before retiring it, and lets a newer push
// wait for a release in progress instead of interrupting it. Histories
// recorded before it replay without any of this.
const releaseVersion = workflow.Version(1)

// productionPhase releases the approved digest to production.
var productionPhase = phaseDef{
	name:      pipelines.PhaseProduction,
	progress:  true,
	heartbeat: PlatformHeartbeatTimeout,
	run: func(r *run, ctx workflow.Context) error {
		if err := r.awaitFreeze(ctx); err != nil {
			return err
		}
		spec, out := &r.in.Spec, &r.st.Outputs
		env := spec.Environments.Production
		in := contract.ProductionInput{
			RunID: r.runID, Source: r.source(), Image: out.Image, Digest: out.Digest, Replica: out.Replica,
			Manifests: spec.Production.Manifests, Namespace: env.Namespace, Context: env.Context, Strategy: env.Strategy,
			Guard: r.governance().Production,
		}
		if v := spec.Production.Verify; v != nil {
			in.Verify = v.Commands
		}
		r.releaseVersion = r.version(ctx, "release", releaseVersion)
		ref := contract.ReleaseRef{RunID: r.runID, Pipeline: spec.Name, Namespace: env.Namespace, Context: env.Context, Guard: in.Guard}
		if r.releaseVersion >= releaseVersion {
			in.Pipeline, in.ApprovedBy = spec.Name, out.ApprovedBy
			if v := spec.Production.Verify; v != nil {
				in.VerifyImage, in.VerifyTimeout = v.Image, v.Timeout.D()
			}
			in.VerifySecrets = r.secrets(pipelines.PhaseProduction, spec.Production.Secrets)
			PushUndo(&r.saga, pipelines.PhaseProduction, contract.UndoRelease, ref, false)
		}
		res, err := call(ctx, contract.Production, in)
		if err != nil {
			return err
		}
		out.ProductionRevision = res.Revision
		if r.releaseVersion >= releaseVersion && res.Color != "" && res.Previous != 0 {
			// The replaced color stays up for instant failover; a failure or
			// cancel in this window switches traffic back (compensation).
			if err := workflow.Sleep(ctx, spec.Production.Grace.D()); err != nil {
				return err
			}
			if _, err := call(ctx, contract.RetireRelease, ref); err != nil {
				workflow.GetLogger(ctx).Warn("the replaced color was not scaled down", "error", err)
			}
		}
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.ProductionRevision = src.ProductionRevision },
}

// PlatformHeartbeatTimeout is how long a platform activity (a release
// waiting for its rollout) may go without a heartbeat before Temporal
// retries it on another worker.
const PlatformHeartbeatTimeout = 20 * time.Second
