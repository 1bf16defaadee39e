package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// freezeVersion (change "freeze") has production wait for the project's
// freeze windows. Only a run whose policy has windows asks for it, so a
// run without them records nothing new.
const freezeVersion = 1

// ErrFrozen fails a release that met a closed window under on_freeze:
// fail, or one that would stay frozen beyond contract.MaxFreezeWait.
const ErrFrozen = "Frozen"

// VerbUnfreeze is the verb of an override's contract.DecisionClaim.
const VerbUnfreeze = "unfreeze"

// awaitFreeze waits, on durable timers, until the project's freeze
// windows let production release; the status says until when. An
// administrator may release the run from the freeze (UpdateUnfreeze,
// signed by the server like a decision); the override is recorded with
// who and why. A newer push supersedes a waiting run as it would a
// running one.
func (r *run) awaitFreeze(ctx workflow.Context) error {
	f := r.governance().Freeze
	if f == nil || workflow.GetVersion(ctx, "freeze", workflow.DefaultVersion, freezeVersion) < freezeVersion {
		return nil
	}
	defer func() { r.st.Frozen = "" }()
	registered := false
	for r.st.FreezeOverride == nil {
		now := workflow.Now(ctx)
		open, why, err := f.OpenAt(now)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrFrozen, nil)
		}
		if !open.After(now) {
			return nil
		}
		until := open.UTC().Format(time.RFC3339)
		if f.Fail {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("production is frozen until %s (%s), and the policy fails a release that meets a freeze", until, why), ErrFrozen, nil)
		}
		r.st.Frozen = fmt.Sprintf("frozen until %s (%s)", until, why)
		workflow.GetLogger(ctx).Info("production frozen", "until", until, "why", why)
		if !registered {
			if err := r.acceptOverride(ctx); err != nil {
				return err
			}
			registered = true
			// the people watching hear why nothing is released, and how
			// an administrator may release it
			r.notifyLater(ctx, contract.NoticeProductionFrozen, fmt.Sprintf("frozen until %s (%s); an administrator of the project may release it: sluice unfreeze %s@%s --reason TEXT",
				until, why, workflow.GetInfo(ctx).WorkflowExecution.ID, r.runID))
		}
		if _, err := workflow.AwaitWithTimeout(ctx, open.Sub(now), func() bool { return r.st.FreezeOverride != nil }); err != nil {
			return err
		}
	}
	workflow.GetLogger(ctx).Info("production released from its freeze", "by", r.st.FreezeOverride.User, "reason", r.st.FreezeOverride.Reason)
	return nil
}

// acceptOverride reads the server's decision key (as an approval gate
// does) and takes overrides from then on.
func (r *run) acceptOverride(ctx workflow.Context) error {
	if len(r.decisionKey) == 0 {
		if _, err := r.gatePolicy(ctx); err != nil {
			return err
		}
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateUnfreeze,
		func(ctx workflow.Context, d Decision) (FreezeOverride, error) {
			o := FreezeOverride{User: d.User, Via: d.Via, Reason: d.Comment, At: workflow.Now(ctx),
				Until: strings.TrimPrefix(strings.SplitN(r.st.Frozen, " (", 2)[0], "frozen until ")}
			r.st.FreezeOverride = &o
			return o, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, d Decision) error {
			if len(r.decisionKey) > 0 {
				claim := contract.DecisionClaim{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, RunID: r.runID,
					Verb: VerbUnfreeze, User: d.User, Comment: d.Comment, Via: d.Via}
				if !claim.Verify(r.decisionKey, d.Proof) {
					return errors.New(RefusedUnverified)
				}
			}
			switch {
			case r.st.Frozen == "" || r.st.FreezeOverride != nil:
				return errors.New("production is not waiting for a freeze")
			case strings.TrimSpace(d.Comment) == "":
				return errors.New("an override needs a reason: pass --reason")
			}
			return nil
		}})
}
