package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// bakePhase builds the image and records the pushed digest.
var bakePhase = phaseDef{
	name:      pipelines.PhaseBake,
	progress:  true,
	heartbeat: PlatformHeartbeatTimeout,
	run: func(r *run, ctx workflow.Context) error {
		b := r.in.Spec.Bake
		res, err := call(ctx, contract.Bake, contract.BakeInput{
			RunID: r.runID, Source: r.source(), Workspace: r.st.Outputs.Workspace,
			Image: b.Image, Dockerfile: b.Dockerfile, Context: b.Context, BuildArgs: b.BuildArgs,
			Artifacts: r.st.Outputs.Artifacts,
		})
		if err != nil {
			return err
		}
		r.st.Outputs.Image, r.st.Outputs.Digest = res.Image, res.Digest
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.Image, dst.Digest = src.Image, src.Digest },
}
