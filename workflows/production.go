package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// productionPhase releases the approved digest to production.
var productionPhase = phaseDef{
	name: pipelines.PhaseProduction,
	run: func(r *run, ctx workflow.Context) error {
		spec, out := &r.in.Spec, &r.st.Outputs
		env := spec.Environments.Production
		in := contract.ProductionInput{
			RunID: r.runID, Source: r.source(), Image: out.Image, Digest: out.Digest,
			Manifests: spec.Production.Manifests, Namespace: env.Namespace, Context: env.Context, Strategy: env.Strategy,
		}
		if v := spec.Production.Verify; v != nil {
			in.Verify = v.Commands
		}
		res, err := call(ctx, contract.Production, in)
		if err != nil {
			return err
		}
		out.ProductionRevision = res.Revision
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.ProductionRevision = src.ProductionRevision },
}
