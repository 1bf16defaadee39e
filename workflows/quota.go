package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// A project's concurrent runs are counted by a Quota workflow of its own
// (QuotaWorkflowID): a semaphore whose holders and waiters are its state,
// so no worker or server holds a slot in memory. A run that needs a slot
// signals it (through the QuotaAcquire activity, which starts it if
// need be) and waits for its grant; the Quota workflow grants slots in
// arrival order and tells each waiter its place as it changes; a run
// gives its slot back as it ends. A holder that ended without giving it
// back (terminated, timed out) is found by asking Temporal while others
// wait, and its slot passes on. Projects have semaphores of their own:
// one project's backlog never delays another's runs.

// Signal and query names of the Quota workflow, and the signal a run gets.
const (
	SignalQuotaAcquire = "quota-acquire"
	SignalQuotaRelease = "quota-release"
	// SignalQuotaNotice tells a waiting run its place, or that it holds a
	// slot now.
	SignalQuotaNotice = "quota-notice"
	QueryQuota        = "quota"
)

// QuotaLiveness is how often a full Quota workflow with waiters asks
// Temporal whether its holders are still running.
const QuotaLiveness = time.Minute

// QuotaWorkflowID is the semaphore of a project's runs (AllProjects: of
// every project's, the installation's cap).
func QuotaWorkflowID(project string) string { return "quota/" + project }

// AllProjects is the semaphore of the installation's cap: a run takes a
// slot of it after its project's.
const AllProjects = "*"

// QuotaAsk is a run asking for, or giving back, a slot.
type QuotaAsk struct {
	Run contract.Execution `json:"run"`
	// Limit is the project's limit as the run's request has it (the
	// server's configuration when the push came); the newest ask's wins.
	Limit int `json:"limit"`
}

// QuotaNotice is what a run is told: its place among the waiters
// (1-based) or, Granted, that it holds a slot.
type QuotaNotice struct {
	// Key is the semaphore's project (AllProjects: the cap).
	Key      string `json:"key,omitempty"`
	Granted  bool   `json:"granted"`
	Position int    `json:"position,omitempty"`
	Waiting  int    `json:"waiting,omitempty"`
	Running  int    `json:"running,omitempty"`
}

// QuotaState is a Quota workflow's state: its input when it continues as
// new, and its query's answer.
type QuotaState struct {
	Project string               `json:"project"`
	Limit   int                  `json:"limit"`
	Holders []contract.Execution `json:"holders,omitempty"`
	Waiters []contract.Execution `json:"waiters,omitempty"`
	// Granted counts the slots granted since the workflow first started.
	Granted int `json:"granted"`
	// Sweep is how often ended holders are looked for while runs wait
	// (zero: QuotaLiveness).
	Sweep time.Duration `json:"sweep,omitempty"`
}

// quotaHistoryLimit is when a Quota workflow continues as new, before its
// history grows large.
const quotaHistoryLimit = 4000

// Quota is a project's semaphore of concurrent runs. It never ends; it
// continues as new with its holders and waiters as its history grows.
func Quota(ctx workflow.Context, st QuotaState) error {
	q := &quota{st: st}
	if err := workflow.SetQueryHandler(ctx, QueryQuota, func() (QuotaState, error) { return q.st, nil }); err != nil {
		return err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	acquire := workflow.GetSignalChannel(ctx, SignalQuotaAcquire)
	release := workflow.GetSignalChannel(ctx, SignalQuotaRelease)
	q.dispatch(ctx, nil)
	// one sweep timer at a time, started while runs wait
	var sweep workflow.Future
	for {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(acquire, func(c workflow.ReceiveChannel, _ bool) {
			var ask QuotaAsk
			c.Receive(ctx, &ask)
			q.acquire(ctx, ask)
		})
		sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) {
			var ask QuotaAsk
			c.Receive(ctx, &ask)
			q.release(ctx, ask.Run)
		})
		if sweep == nil && len(q.st.Waiters) > 0 {
			// while runs wait, holders that ended without giving their slot
			// back are looked for now and then
			every := q.st.Sweep
			if every <= 0 {
				every = QuotaLiveness
			}
			sweep = workflow.NewTimer(ctx, every)
		}
		if sweep != nil {
			sel.AddFuture(sweep, func(workflow.Future) {
				sweep = nil
				q.sweep(ctx)
			})
		}
		sel.Select(ctx)
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > quotaHistoryLimit {
			// every signal delivered so far is handled; those that arrive
			// now go to the next run with the state
			for drained := false; !drained; {
				var ask QuotaAsk
				switch {
				case acquire.ReceiveAsync(&ask):
					q.acquire(ctx, ask)
				case release.ReceiveAsync(&ask):
					q.release(ctx, ask.Run)
				default:
					drained = true
				}
			}
			return workflow.NewContinueAsNewError(ctx, Quota, q.st)
		}
	}
}

type quota struct {
	st QuotaState
}

func (q *quota) acquire(ctx workflow.Context, ask QuotaAsk) {
	if ask.Limit > 0 {
		q.st.Limit = ask.Limit
	}
	switch {
	case slices.Contains(q.st.Holders, ask.Run):
		// an ask sent again (its activity retried): the grant again
		q.notify(ctx, ask.Run, QuotaNotice{Granted: true, Running: len(q.st.Holders)})
		return
	case slices.Contains(q.st.Waiters, ask.Run):
		return
	}
	q.st.Waiters = append(q.st.Waiters, ask.Run)
	q.dispatch(ctx, []contract.Execution{ask.Run})
}

func (q *quota) release(ctx workflow.Context, run contract.Execution) {
	q.st.Holders = slices.DeleteFunc(q.st.Holders, func(e contract.Execution) bool { return e == run })
	before := len(q.st.Waiters)
	q.st.Waiters = slices.DeleteFunc(q.st.Waiters, func(e contract.Execution) bool { return e == run })
	if before != len(q.st.Waiters) {
		q.tellPlaces(ctx)
	}
	q.dispatch(ctx, nil)
}

// dispatch grants free slots to the longest waiting runs and tells every
// waiter whose place changed (and newcomers) where it stands.
func (q *quota) dispatch(ctx workflow.Context, newcomers []contract.Execution) {
	moved := false
	for len(q.st.Waiters) > 0 && len(q.st.Holders) < max(q.st.Limit, 1) {
		next := q.st.Waiters[0]
		q.st.Waiters = q.st.Waiters[1:]
		q.st.Holders = append(q.st.Holders, next)
		q.st.Granted++
		moved = true
		if !q.notify(ctx, next, QuotaNotice{Granted: true, Running: len(q.st.Holders)}) {
			// it ended while it waited: its slot is free again
			q.st.Holders = q.st.Holders[:len(q.st.Holders)-1]
		}
	}
	if moved {
		q.tellPlaces(ctx)
		return
	}
	for i, w := range q.st.Waiters {
		if slices.Contains(newcomers, w) {
			q.notify(ctx, w, q.place(i))
		}
	}
}

func (q *quota) place(i int) QuotaNotice {
	return QuotaNotice{Position: i + 1, Waiting: len(q.st.Waiters), Running: len(q.st.Holders)}
}

// tellPlaces tells every waiter its place.
func (q *quota) tellPlaces(ctx workflow.Context) {
	for i, w := range q.st.Waiters {
		q.notify(ctx, w, q.place(i))
	}
}

// notify signals a run; false: the run has ended.
func (q *quota) notify(ctx workflow.Context, run contract.Execution, n QuotaNotice) bool {
	n.Key = q.st.Project
	err := workflow.SignalExternalWorkflow(ctx, run.WorkflowID, run.RunID, SignalQuotaNotice, n).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Info("quota notice not delivered: the run has ended", "run", run.WorkflowID+"@"+run.RunID, "error", err)
		return false
	}
	return true
}

// sweep frees the slots of holders (and the places of waiters) whose runs
// ended without giving them back.
func (q *quota) sweep(ctx workflow.Context) {
	all := append(slices.Clone(q.st.Holders), q.st.Waiters...)
	var ended []contract.Execution
	if err := workflow.ExecuteActivity(ctx, contract.QuotaEnded.Name, all).Get(ctx, &ended); err != nil {
		workflow.GetLogger(ctx).Warn("quota: could not ask which runs ended", "error", err)
		return
	}
	for _, e := range ended {
		workflow.GetLogger(ctx).Warn("quota: a run ended without giving its slot back; passing it on", "project", q.st.Project, "run", e.WorkflowID+"@"+e.RunID)
		q.release(ctx, e)
	}
}

// Ordinal is n as "1st", "2nd", "3rd", "4th" …
func Ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// acquireQuota waits, before the run's first phase, for a slot of its
// project's semaphore when the project limits its concurrent runs; the
// run's state says where it stands meanwhile. Cancelled while it waits,
// the run ends (and finish gives its place back).
func (r *run) acquireQuota(ctx workflow.Context) error {
	q := r.governance().Quota
	if r.epoch < runQuotas || q == nil {
		return nil
	}
	// the project's slot first, then the installation's: a run holds at
	// most one slot of the cap while it waits, and a project's backlog
	// never waits in the cap's queue beyond its own limit
	if q.Runs > 0 {
		if err := r.acquireSlot(ctx, r.governance().Project, q.Runs, "project "+r.governance().Project); err != nil {
			return err
		}
	}
	if q.All > 0 {
		return r.acquireSlot(ctx, AllProjects, q.All, "all projects")
	}
	return nil
}

// acquireSlot asks semaphore key for a slot and waits for it.
func (r *run) acquireSlot(ctx workflow.Context, key string, limit int, of string) error {
	notices := workflow.GetSignalChannel(ctx, SignalQuotaNotice)
	// a local activity: the ask costs the run no activity task
	actx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	if !slices.Contains(r.quotaAsked, key) { // a phase run again asks again
		r.quotaAsked = append(r.quotaAsked, key)
	}
	if err := startLocal(actx, contract.QuotaAcquire, contract.QuotaRequest{Project: key, Run: r.self(ctx), Limit: limit}).Get(ctx, nil); err != nil {
		return err
	}
	for {
		var n QuotaNotice
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(notices, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &n) })
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		if err := ctx.Err(); err != nil {
			return temporal.NewCanceledError("cancelled while queued for the quota of " + of)
		}
		switch {
		case n.Key != "" && n.Key != key:
			// another semaphore's notice, sent again: the run holds that slot
		case n.Granted:
			r.st.Queued = ""
			return nil
		default:
			r.st.Queued = fmt.Sprintf("queued: %s of %s (%d running, limit %d)", Ordinal(n.Position), of, n.Running, limit)
		}
	}
}

// testEnvironmentQuota (change "test-environment-quota", recorded only by
// runs of a project that bounds its test environments) has deploy wait
// for a slot of the project's test environments before it makes one; the
// run gives it back as it ends, after its environment is deleted.
const testEnvironmentQuota = 1

// TestEnvironmentsKey is the semaphore of a project's test environments.
func TestEnvironmentsKey(project string) string { return project + "/test-environments" }

// acquireTestEnvironment waits for a slot of the project's test
// environments, when its policy bounds them.
func (r *run) acquireTestEnvironment(ctx workflow.Context) error {
	q := r.governance().Quota
	if q == nil || q.TestEnvironments < 1 || r.version(ctx, "test-environment-quota", testEnvironmentQuota) < testEnvironmentQuota {
		return nil
	}
	project := r.governance().Project
	return r.acquireSlot(ctx, TestEnvironmentsKey(project), q.TestEnvironments, "test environments of project "+project)
}

// releaseQuota gives the run's slot, or its place in the queue, back.
func (r *run) releaseQuota(ctx workflow.Context) {
	// the cap's slot first, then the project's (the order they were taken
	// in, reversed)
	for i := len(r.quotaAsked) - 1; i >= 0; i-- {
		r.releaseSlot(ctx, r.quotaAsked[i])
	}
}

func (r *run) releaseSlot(ctx workflow.Context, key string) {
	// waited for: sent without waiting, as the run's last command, the
	// benchmark's serial runs of a project with one slot stalled, the
	// semaphore not seeing the releases
	err := workflow.SignalExternalWorkflow(ctx, QuotaWorkflowID(key), "", SignalQuotaRelease, QuotaAsk{Run: r.self(ctx)}).Get(ctx, nil)
	if err != nil {
		// the semaphore finds the ended run itself while others wait
		workflow.GetLogger(ctx).Warn("quota slot not given back", "error", err)
	}
}

// self is the run's own execution.
func (r *run) self(ctx workflow.Context) contract.Execution {
	return contract.Execution{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, RunID: r.runID}
}
