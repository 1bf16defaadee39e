package activities

import (
	"context"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// progressTimeout bounds a phase's "running" status: the phase's end waits
// for one in flight (a late "running" must not land after the run's final
// status), so a Git host that hangs delays the phase by at most this.
const progressTimeout = 5 * time.Second

// ReportingProgress wraps the activity fn of a whole phase: when the
// workflow asked for it (the input's Progress), the phase's "running"
// commit status is set once the activity has run for Progress.After (the
// run's first phase: at once). A failed status is logged, never fails the
// phase: progress is information; the run's final status is the
// workflow's, sent after every phase ended.
func ReportingProgress[In contract.ProgressReporter, Out any](c *CommitStatus, fn func(context.Context, In) (Out, error)) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		if p := in.ProgressReport(); p != nil {
			defer c.reportAfter(ctx, *p)()
		}
		return fn(ctx, in)
	}
}

// reportAfter sets p's status after p.After unless the returned stop is
// called first (a zero After sets it whatever stop does); stop waits for a
// status in flight.
func (c *CommitStatus) reportAfter(ctx context.Context, p contract.Progress) (stop func()) {
	ended, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		if p.After > 0 { // else at once, even if the phase ends first
			t := time.NewTimer(p.After)
			defer t.Stop()
			select {
			case <-ended:
				return
			case <-t.C:
			}
		}
		sctx, cancel := context.WithTimeout(ctx, progressTimeout)
		defer cancel()
		if _, err := c.SetStatus(sctx, p.Status); err != nil {
			Logger(ctx).Warn("phase status not delivered", "state", p.Status.State, "description", p.Status.Description, "error", err)
		}
	}()
	return func() {
		close(ended)
		<-done
	}
}
