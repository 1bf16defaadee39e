package workflows

import (
	"maps"
	"slices"

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
			Artifacts: r.st.Outputs.Artifacts, JobArtifacts: jobArtifacts(r.st.Outputs),
		})
		if err != nil {
			return err
		}
		r.st.Outputs.Image, r.st.Outputs.Digest = res.Image, res.Digest
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.Image, dst.Digest = src.Image, src.Digest },
}

// jobArtifacts are the artifacts test's jobs kept, in their cells' name
// order.
func jobArtifacts(o Outputs) []string {
	var out []string
	for _, cell := range slices.Sorted(maps.Keys(o.JobArtifacts)) {
		out = append(out, o.JobArtifacts[cell])
	}
	return out
}
