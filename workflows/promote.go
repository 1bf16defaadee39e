package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// promotePhase marks the tested digest available and, with a production
// registry, replicates it there; a later failure removes the tags again.
var promotePhase = phaseDef{
	name:      pipelines.PhasePromote,
	progress:  true,
	heartbeat: PlatformHeartbeatTimeout, // a lost worker costs 20 s, not the phase's timeout
	run: func(r *run, ctx workflow.Context) error {
		out, tag := &r.st.Outputs, r.in.Spec.Promote.Tag
		var replica string
		if prod := r.in.Spec.Environments.Production; prod != nil {
			replica = contract.ReplicaRepository(prod.Registry, out.Image)
		}
		PushUndo(&r.saga, pipelines.PhasePromote, contract.RemoveTag,
			contract.TagRef{RunID: r.runID, Image: out.Image, Digest: out.Digest, Tag: tag, Replica: replica}, false)
		in := contract.PromoteInput{
			RunID: r.runID, Commit: r.in.Push.Commit, Image: out.Image, Digest: out.Digest, Tag: tag, Replica: replica,
		}
		if g := r.in.Spec.Promote.Scan; g != nil {
			in.Scan = &contract.ScanPolicy{MaxSeverity: g.MaxSeverity, Allow: g.Allow}
		}
		res, err := call(ctx, contract.MarkAvailable, in)
		if err != nil {
			return err
		}
		out.AvailableTag, out.Replica = tag, res.Replica
		if r.version(ctx, "available-status", availableStatus) >= availableStatus {
			// the commit says its image is available, as a status of its own
			desc := "image " + shortDigest(out.Digest) + " marked " + tag
			if res.Replica != "" {
				desc += ", replicated to " + res.Replica
			}
			r.namedStatus(ctx, contract.StatusAvailable, contract.StatusSuccess, desc, false)
		}
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.AvailableTag, dst.Replica = src.AvailableTag, src.Replica },
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
