package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"

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
		judge := spec.Production.Analysis != nil && r.version(ctx, "analysis", analysisVersion) >= analysisVersion
		steps := canarySteps(spec)
		if len(steps) > 0 && r.version(ctx, "canary", canaryVersion) >= canaryVersion {
			in.CanaryWeight = steps[0].Weight
		} else {
			steps = nil
		}
		an := contract.AnalysisInput{RunID: r.runID, Pipeline: spec.Name, Namespace: env.Namespace, Context: env.Context}
		if judge {
			// Prometheus must accept the queries before traffic moves
			an.Analysis, an.Check = *spec.Production.Analysis, true
			if _, err := call(ctx, contract.Analyze, an); err != nil {
				return err
			}
		}
		res, err := call(ctx, contract.Production, in)
		if err != nil {
			return err
		}
		out.ProductionRevision = res.Revision
		switched := workflow.Now(ctx)
		an.Check = false
		switch {
		case res.Canary && len(steps) > 0:
			if err := r.canary(ctx, ref, steps, an); err != nil {
				r.undoBecause(ref, err)
				return err
			}
		case judge:
			an.Started = switched
			if err := r.analyse(ctx, an); err != nil {
				r.undoBecause(ref, err)
				return err
			}
		}
		if r.releaseVersion >= releaseVersion && res.Color != "" && res.Previous != 0 {
			// The replaced color stays up for instant failover; a failure or
			// cancel in this window switches traffic back (compensation).
			if grace := spec.Production.Grace.D() - workflow.Now(ctx).Sub(switched); grace > 0 {
				if err := workflow.Sleep(ctx, grace); err != nil {
					return err
				}
			}
			if _, err := call(ctx, contract.RetireRelease, ref); err != nil {
				workflow.GetLogger(ctx).Warn("the replaced color was not scaled down", "error", err)
			}
		}
		return nil
	},
	keep: func(dst *Outputs, src Outputs) {
		dst.ProductionRevision, dst.Analysis, dst.Canary = src.ProductionRevision, src.Analysis, src.Canary
	},
}

// undoBecause has the release's undo record why it runs: what stopped
// the release after it was made (a failed analysis, a rejection).
func (r *run) undoBecause(ref contract.ReleaseRef, err error) {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Message() != "" {
		ref.Reason = app.Message()
		Amend(&r.saga, contract.UndoRelease, ref)
	}
}

// analysisVersion gates production.analysis ("analysis" change id): its
// queries are tried before the release and the release is judged after
// it. Only runs whose spec has an analysis record the marker.
const analysisVersion = workflow.Version(1)

// Error types of a release its analysis undid.
const (
	ErrAnalysisFailed       = "AnalysisFailed"
	ErrAnalysisInconclusive = "AnalysisInconclusive"
)

// analyse judges the release just made by its metrics. Failed: the phase
// fails, and the run's compensation puts the previous release back at
// once (blue-green: traffic switches back to the color still running).
// Inconclusive: the approval phase's approvers decide, as they decided
// the approval; rejected or expired, the release is undone the same way.
func (r *run) analyse(ctx workflow.Context, in contract.AnalysisInput) error {
	res, err := call(ctx, contract.Analyze, in)
	if prev := r.st.Outputs.Analysis; prev != nil {
		// a canary's earlier steps: every value is kept
		res.Measurements = append(slices.Clip(prev.Measurements), res.Measurements...)
	}
	r.st.Outputs.Analysis = &res
	if err != nil {
		return err
	}
	switch res.Verdict {
	case contract.AnalysisPassed:
		return nil
	case contract.AnalysisFailed:
		return temporal.NewNonRetryableApplicationError("analysis failed: "+res.Reason+"; the previous release is put back", ErrAnalysisFailed, nil)
	}
	return r.askAgain(ctx, "inconclusive analysis: "+res.Reason, ErrAnalysisInconclusive)
}

// askAgain asks the approval phase's approvers whether the release may
// stay or go on despite what; without an approval phase, or rejected or
// expired, the phase fails (errType) and the release is undone.
func (r *run) askAgain(ctx workflow.Context, what, errType string) error {
	if r.in.Spec.Approval == nil {
		return temporal.NewNonRetryableApplicationError(what+"; the spec has no approval phase whose approvers could decide, so the previous release is put back", errType, nil)
	}
	a, err := r.openGate(ctx, what)
	if err != nil {
		return err
	}
	if err := r.awaitGate(ctx, a); err != nil {
		return err
	}
	switch a.Status {
	case ApprovalApproved:
		var by []string
		for _, x := range a.Approvals {
			by = append(by, x.User)
		}
		r.notifyLater(ctx, contract.NoticeApprovalDecided, fmt.Sprintf("release kept despite the %s: approved by %v", what, by))
		return nil
	case ApprovalRejected:
		msg := fmt.Sprintf("%s; rejected by %s: %s; the previous release is put back", what, a.Rejection.User, a.Rejection.Comment)
		r.notify(ctx, contract.NoticeApprovalDecided, msg)
		return temporal.NewNonRetryableApplicationError(msg, ErrRejected, nil)
	default:
		msg := fmt.Sprintf("%s; no decision within %s; the previous release is put back", what, r.in.Spec.Approval.Timeout)
		r.notify(ctx, contract.NoticeApprovalExpired, msg)
		return temporal.NewNonRetryableApplicationError(msg, errType, nil)
	}
}

// canaryVersion gates canary releases ("canary" change id): the steps
// after the release, then the promotion. Only runs whose production is a
// canary record the marker.
const canaryVersion = workflow.Version(1)

// ErrCanaryHeld: the approvers did not let a canary go on.
const ErrCanaryHeld = "CanaryHeld"

func canarySteps(spec *pipelines.Spec) []pipelines.CanaryStep {
	if env := spec.Environments.Production; env == nil || env.Strategy != pipelines.Canary || spec.Production.Canary == nil {
		return nil
	}
	return spec.Production.Canary.Steps
}

// canary takes a canary release through its steps: the first weight is
// the release's own; each step then holds, judges and asks as it says;
// after the last the canary is promoted. Any failure on the way fails the
// phase, and the compensation removes the canary and puts the stable
// release back at full size.
func (r *run) canary(ctx workflow.Context, ref contract.ReleaseRef, steps []pipelines.CanaryStep, an contract.AnalysisInput) error {
	for i, st := range steps {
		if i > 0 {
			if _, err := call(ctx, contract.SetCanaryWeight, contract.CanaryInput{ReleaseRef: ref, Weight: st.Weight}); err != nil {
				return err
			}
		}
		r.st.Outputs.Canary = fmt.Sprintf("step %d of %d: %d%% of the pods", i+1, len(steps), st.Weight)
		if st.Pause > 0 {
			if err := workflow.Sleep(ctx, st.Pause.D()); err != nil {
				return err
			}
		}
		if st.Analysis {
			an.Started = workflow.Now(ctx)
			if err := r.analyse(ctx, an); err != nil {
				return err
			}
		}
		if st.Approve {
			if err := r.askAgain(ctx, fmt.Sprintf("canary at %d%% (step %d of %d): let it go on", st.Weight, i+1, len(steps)), ErrCanaryHeld); err != nil {
				return err
			}
		}
	}
	if _, err := call(ctx, contract.PromoteCanary, ref); err != nil {
		return err
	}
	r.st.Outputs.Canary = fmt.Sprintf("promoted after %d step(s)", len(steps))
	return nil
}

// PlatformHeartbeatTimeout is how long a platform activity (a release
// waiting for its rollout) may go without a heartbeat before Temporal
// retries it on another worker.
const PlatformHeartbeatTimeout = 20 * time.Second
