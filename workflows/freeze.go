package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// freezeVersion (change "freeze") has production wait for the project's
// freeze windows. Only a run whose policy has windows asks for it, so a
// run without them records nothing new.
const freezeVersion = 1

// ErrFrozen fails a release that met a closed window under on_freeze:
// fail, or one that would stay frozen beyond contract.MaxFreezeWait.
const ErrFrozen = "Frozen"

// awaitFreeze waits, on durable timers, until the project's freeze
// windows let production release; the status says until when. A newer
// push supersedes a waiting run as it would a running one.
func (r *run) awaitFreeze(ctx workflow.Context) error {
	f := r.governance().Freeze
	if f == nil || workflow.GetVersion(ctx, "freeze", workflow.DefaultVersion, freezeVersion) < freezeVersion {
		return nil
	}
	defer func() { r.st.Frozen = "" }()
	for {
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
		if err := workflow.NewTimer(ctx, open.Sub(now)).Get(ctx, nil); err != nil {
			return err
		}
	}
}
