package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// promotePhase marks the tested digest available; a later failure removes
// the tag again.
var promotePhase = phaseDef{
	name: pipelines.PhasePromote,
	run: func(r *run, ctx workflow.Context) error {
		out, tag := &r.st.Outputs, r.in.Spec.Promote.Tag
		PushUndo(&r.saga, pipelines.PhasePromote, contract.RemoveTag,
			contract.TagRef{RunID: r.runID, Image: out.Image, Digest: out.Digest, Tag: tag}, false)
		if _, err := call(ctx, contract.MarkAvailable, contract.PromoteInput{
			RunID: r.runID, Commit: r.in.Push.Commit, Image: out.Image, Digest: out.Digest, Tag: tag,
		}); err != nil {
			return err
		}
		out.AvailableTag = tag
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.AvailableTag = src.AvailableTag },
}
