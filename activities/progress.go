package activities

import (
	"context"
	"time"

	"github.com/sluice-cd/sluice/attempt"
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

// A "running" status the Git host refused is sent again while the phase
// runs, after progressRetry, then twice as long each time up to
// progressRetryMax: a host that is down at a run's start shows the run
// running once it is back, not only at the run's end.
const (
	progressRetry    = time.Second
	progressRetryMax = 20 * time.Second
)

// reportAfter sets p's status after p.After unless the returned stop is
// called first (a zero After sets it whatever stop does), and sends it
// again while it is refused, until the phase ends; stop waits for a status
// in flight.
func (c *CommitStatus) reportAfter(ctx context.Context, p contract.Progress) (stop func()) {
	ended, done := make(chan struct{}), make(chan struct{})
	// wait waits d; false: the phase ended (or its activity was cancelled)
	// first, and a later status stands for this one.
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ended:
			return false
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	go func() {
		defer close(done)
		if p.After > 0 && !wait(p.After) { // else at once, even if the phase ends first
			return
		}
		retry := c.progressRetry
		if retry == 0 {
			retry = progressRetry
		}
		for {
			sctx, cancel := context.WithTimeout(ctx, progressTimeout)
			_, err := c.SetStatus(sctx, p.Status)
			cancel()
			if err == nil {
				return
			}
			attempt.Logger(ctx).Warn("phase status not delivered; sent again while the phase runs", "state", p.Status.State,
				"description", p.Status.Description, "retry_in", retry, "error", err)
			if !wait(retry) {
				return
			}
			retry = min(2*retry, progressRetryMax)
		}
	}()
	return func() {
		close(ended)
		<-done
	}
}
