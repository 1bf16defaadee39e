package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// promotePhase marks the tested digest available and, with a production
// registry, replicates it there; a later failure removes the tags again.
var promotePhase = phaseDef{
	name: pipelines.PhasePromote,
	run: func(r *run, ctx workflow.Context) error {
		out, tag := &r.st.Outputs, r.in.Spec.Promote.Tag
		var replica string
		if prod := r.in.Spec.Environments.Production; prod != nil {
			replica = contract.ReplicaRepository(prod.Registry, out.Image)
		}
		PushUndo(&r.saga, pipelines.PhasePromote, contract.RemoveTag,
			contract.TagRef{RunID: r.runID, Image: out.Image, Digest: out.Digest, Tag: tag, Replica: replica}, false)
		res, err := call(ctx, contract.MarkAvailable, contract.PromoteInput{
			RunID: r.runID, Commit: r.in.Push.Commit, Image: out.Image, Digest: out.Digest, Tag: tag, Replica: replica,
		})
		if err != nil {
			return err
		}
		out.AvailableTag, out.Replica = tag, res.Replica
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.AvailableTag, dst.Replica = src.AvailableTag, src.Replica },
}
