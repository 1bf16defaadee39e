package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// Workflow versions of commit status reporting ("commit-status" change id).
// Runs recorded before version 1 replay without statuses.
const (
	// commitStatusQueued (1) also sent "pending: queued" at start, which
	// could reach the host after the first "running".
	commitStatusQueued = 1
	// commitStatusOrdered (2) starts with the first phase's "running".
	commitStatusOrdered = 2 //nolint:unused // recorded in older histories; named so the list of versions is whole
	// commitStatusAwaited (3) also lets the progress updates land (for at
	// most progressGrace) before the final status is sent, so a late
	// "running" can never overwrite the result on the host.
	commitStatusAwaited = 3
	// commitStatusVersion (4) sends the first phase's "running" at once and
	// a later phase's only once it has run for progressGate: a phase that
	// ends sooner costs no status activity (and no workflow task for its
	// completion), and the host never flickers through it.
	commitStatusVersion = 4
)

// concurrentTail (change "concurrent-tail") overlaps a run's bookkeeping:
// the approval policy is asked for while the phase before the gate runs,
// the notice of an approval is not waited for before production, the
// cleanup of a run that succeeded runs all at once, and the run's last
// notice goes beside its final commit status.
const concurrentTail = 1

// progressGrace bounds how long the final status waits for progress updates.
const progressGrace = 30 * time.Second

// progressGate is how long a phase after the first runs before its
// "running" status is sent.
const progressGate = time.Second

var statusOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    15 * time.Second,
	ScheduleToCloseTimeout: 2 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    20 * time.Second,
	},
}

// commitStatus reports the run's state on the commit. Progress updates are
// not waited for (so two may reach the host out of order; they are all
// "running"); the final one is sent after every phase has ended and the
// progress updates have landed (at most progressGrace), and is waited for at
// most a minute, so a Git host that is down never fails or stalls a run.
func (r *run) commitStatus(ctx workflow.Context, state, description string, wait bool) {
	r.namedStatus(ctx, "", state, description, wait)
}

// namedStatus sets the commit status called name ("": the run's own).
func (r *run) namedStatus(ctx workflow.Context, name, state, description string, wait bool) {
	if r.statusVersion < commitStatusQueued {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	opts := statusOptions
	if wait {
		opts.ScheduleToCloseTimeout = time.Minute
	}
	if wait && r.statusVersion >= commitStatusAwaited {
		r.awaitProgress(dctx)
	}
	in := r.statusInput(ctx, state, description)
	in.Name = name
	f := start(workflow.WithActivityOptions(dctx, opts), contract.SetCommitStatus, in)
	if !wait {
		r.progress = append(r.progress, f)
		return
	}
	if err := f.Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("commit status not delivered", "state", state, "error", err)
	}
}

// phaseStatus reports that a phase runs: at once for the run's first phase
// (and on runs recorded before commitStatusVersion), else once the phase
// has run for progressGate — from epoch workerProgress on by the worker
// that runs the phase's activity (the returned context carries the report
// for call), before it by a workflow timer. From epoch firstProgress on the
// first phase's report goes with its activity too, to be sent at once. The
// returned stop ends the wait when the phase ends (the timer is cancelled;
// nothing is sent).
func (r *run) phaseStatus(ctx workflow.Context, phase string, first bool) (workflow.Context, func()) {
	desc := "phase " + phase
	d, _ := phaseDefNamed(phase)
	if first && d.progress && r.epoch >= firstProgress {
		p := &contract.Progress{Status: r.statusInput(ctx, contract.StatusRunning, desc)}
		return workflow.WithValue(ctx, progressKey{}, p), func() {}
	}
	if first || r.statusVersion < commitStatusVersion {
		r.commitStatus(ctx, contract.StatusRunning, desc, false)
		return ctx, func() {}
	}
	if d.progress && r.epoch >= workerProgress {
		p := &contract.Progress{After: progressGate, Status: r.statusInput(ctx, contract.StatusRunning, desc)}
		return workflow.WithValue(ctx, progressKey{}, p), func() {}
	}
	gctx, cancel := workflow.WithCancel(ctx)
	workflow.Go(gctx, func(gctx workflow.Context) {
		if workflow.NewTimer(gctx, progressGate).Get(gctx, nil) == nil {
			r.commitStatus(ctx, contract.StatusRunning, desc, false)
		}
	})
	return ctx, cancel
}

// statusInput is the run's own commit status in state with description.
func (r *run) statusInput(ctx workflow.Context, state, description string) contract.StatusInput {
	p := r.in.Push
	return contract.StatusInput{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, RunID: r.runID,
		Repo: p.Repo, Commit: p.Commit, State: state, Description: description, Name: contract.StatusName(p.Pipeline)}
}

// progressKey is the workflow context key of the phase's progress report.
type progressKey struct{}

func finalStatus(st RunState) (string, string) {
	if st.State == StateSucceeded {
		desc := "pipeline succeeded"
		if p := st.Request.Policy; p != nil && len(p.Withheld) > 0 {
			var names []string
			for _, w := range p.Withheld {
				names = append(names, w.Phase)
			}
			desc += "; withheld by policy: " + strings.Join(names, ", ")
		}
		if len(st.Request.Skipped) > 0 {
			desc += "; skipped by rule: " + skippedNames(st.Request.Skipped)
		}
		return contract.StatusSuccess, desc
	}
	desc := st.State
	if st.Phase != "" {
		desc += " in " + st.Phase
	}
	return contract.StatusFailure, desc
}

// withheldSummary says which phases the server's policy withheld from the
// run and which the spec's rules skipped, and why, for its last notice
// (the log and chat); "" when none.
func withheldSummary(st RunState) string {
	var out string
	if p := st.Request.Policy; p != nil && len(p.Withheld) > 0 {
		var names []string
		for _, w := range p.Withheld {
			names = append(names, w.Phase)
		}
		out = fmt.Sprintf("; withheld by policy: %s (%s)", strings.Join(names, ", "), p.Withheld[0].Reason)
	}
	if s := st.Request.Skipped; len(s) > 0 {
		out += fmt.Sprintf("; skipped by rule: %s (%s)", skippedNames(s), s[0].Rule)
	}
	return out
}

func skippedNames(skipped []pipelines.Skip) string {
	names := make([]string, len(skipped))
	for i, k := range skipped {
		names[i] = k.What()
	}
	return strings.Join(names, ", ")
}

// awaitProgress lets the progress updates land, for at most progressGrace.
func (r *run) awaitProgress(ctx workflow.Context) {
	landed := func() bool {
		for _, p := range r.progress {
			if !p.IsReady() {
				return false
			}
		}
		return true
	}
	if !landed() {
		_, _ = workflow.AwaitWithTimeout(ctx, progressGrace, landed)
	}
}
