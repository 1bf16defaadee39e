package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// chaosPhase runs the spec's experiments, one Chaos child workflow each,
// against the test environment. A failed experiment fails the phase (and
// the run's compensation removes the environment); each child removes its
// own faults first, also when the run is cancelled.
var chaosPhase = phaseDef{
	name: pipelines.PhaseChaos,
	run: func(r *run, ctx workflow.Context) error {
		exps, err := call(ctx, contract.LoadExperiments, contract.ExperimentsInput{
			RunID: r.runID, Source: r.source(), Files: r.in.Spec.Chaos.Experiments, Namespace: r.st.Outputs.Environment,
		})
		if err != nil {
			return err
		}
		var passed []string
		for _, e := range exps {
			id := ChaosWorkflowID(workflow.GetInfo(ctx).WorkflowExecution.ID, r.runID, e.Name)
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
				WorkflowID: id,
				// a run that is terminated still lifts the child's faults
				ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
				WaitForCancellation: true,
			})
			var st ChaosState
			if err := workflow.ExecuteChildWorkflow(cctx, Chaos, ChaosInput{Experiment: e, Project: r.governance().Project}).Get(ctx, &st); err != nil {
				return err
			}
			passed = append(passed, fmt.Sprintf("%s (%s)", e.Name, id))
		}
		r.st.Outputs.ChaosSummary = fmt.Sprintf("%d experiment(s) passed: %s", len(passed), strings.Join(passed, ", "))
		return nil
	},
	keep: func(dst *Outputs, src Outputs) { dst.ChaosSummary = src.ChaosSummary },
}

// ChaosWorkflowID is the workflow ID of a pipeline run's experiment: unique
// per run, so `sluice chaos status` finds each run's own.
func ChaosWorkflowID(pipelineWorkflowID, runID, experiment string) string {
	return pipelineWorkflowID + "@" + runID + "/chaos/" + experiment
}

// ChaosInput starts a Chaos workflow.
type ChaosInput struct {
	Experiment contract.Experiment `json:"experiment"`
	// Project is the project whose environment the experiment disturbs
	// (the server's decision; "" none): its record is that project's.
	Project string `json:"project,omitempty"`
}

// Chaos experiment states.
const (
	ChaosRunning   = "running"
	ChaosPassed    = "passed"
	ChaosFailed    = "failed"
	ChaosCancelled = "cancelled"
)

// ErrExperimentFailed is the failure type of an experiment that ran and
// did not pass.
const ErrExperimentFailed = "ExperimentFailed"

// ChaosEvent is one line of an experiment's timeline.
type ChaosEvent struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// ChaosState is what QueryState answers for a Chaos workflow and what it
// returns.
type ChaosState struct {
	Experiment string `json:"experiment"`
	State      string `json:"state"`
	// Stage is what the experiment is doing: "steady state", "fault 1
	// pod-kill", "recovery", "removing faults".
	Stage    string       `json:"stage,omitempty"`
	Timeline []ChaosEvent `json:"timeline"`
	// Steady is the observation before any fault; Observation the one
	// across the faults and the recovery.
	Steady      *contract.Observation `json:"steady,omitempty"`
	Observation *contract.Observation `json:"observation,omitempty"`
	// Notifications are the Alertmanager notifications received while the
	// experiment ran, with when they arrived.
	Notifications []ReceivedAlert `json:"notifications,omitempty"`
	// Failures say why the experiment did not pass.
	Failures []string `json:"failures,omitempty"`
	// Faults still to remove.
	Undo []Undo `json:"undo,omitempty"`
}

// ReceivedAlert is a notification and when the experiment received it.
type ReceivedAlert struct {
	At time.Time `json:"at"`
	AlertNotification
}

// ChaosRemovalMargin is added to a fault's duration for its expiry when the
// experiment sets no ttl: past it, the worker's sweeper removes the fault
// even if no workflow does.
const ChaosRemovalMargin = 2 * time.Minute

// chaosRun is one Chaos workflow's state.
type chaosRun struct {
	in   ChaosInput
	st   ChaosState
	saga Saga
	wid  string
	rid  string
	// firstFault is when the first fault was injected: expected alerts'
	// deadlines count from it.
	firstFault time.Time
}

func (c *chaosRun) event(ctx workflow.Context, format string, args ...any) {
	c.st.Timeline = append(c.st.Timeline, ChaosEvent{At: workflow.Now(ctx), What: fmt.Sprintf(format, args...)})
}

// Chaos runs an experiment: it watches the target for the steady state,
// then injects each fault in turn — its removal on the compensation stack
// before it acts — holds it, removes it, watches the recovery, and judges
// what the probe saw against the SLO. Faults are removed however the
// workflow ends: success, failure or cancellation; each also carries an
// expiry the worker's sweeper enforces if the workflow is terminated.
func Chaos(ctx workflow.Context, in ChaosInput) (ChaosState, error) {
	info := workflow.GetInfo(ctx)
	c := &chaosRun{in: in, wid: info.WorkflowExecution.ID, rid: info.WorkflowExecution.RunID,
		st: ChaosState{Experiment: in.Experiment.Name, State: ChaosRunning}}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (ChaosState, error) {
		st := c.st
		st.Undo = c.saga.Pending()
		return st, nil
	}); err != nil {
		return c.st, err
	}
	alerts := workflow.GetSignalChannel(ctx, SignalAlert)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var n AlertNotification
			if !alerts.Receive(ctx, &n) {
				return
			}
			c.st.Notifications = append(c.st.Notifications, ReceivedAlert{At: workflow.Now(ctx), AlertNotification: n})
			c.event(ctx, "alert notification to %s: %s %s", n.Receiver, n.Status, alertNames(n))
		}
	})
	err := c.run(ctx)
	return c.finish(ctx, err)
}

func (c *chaosRun) observeOptions(d time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: d + time.Minute,
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: contract.NonRetryable(),
		},
	}
}

func (c *chaosRun) observe(ctx workflow.Context, d time.Duration) workflow.Future {
	e := c.in.Experiment
	ctx = workflow.WithActivityOptions(ctx, c.observeOptions(d))
	return start(ctx, contract.ChaosObserve, contract.ObserveInput{
		RunID: c.rid, Namespace: e.Namespace, Service: e.Service, Port: e.Port, Path: e.Path,
		Rate: e.Rate, Timeout: e.ProbeTimeout, Until: workflow.Now(ctx).Add(d),
	})
}

func (c *chaosRun) run(ctx workflow.Context) error {
	e := c.in.Experiment
	c.st.Stage = "steady state"
	c.event(ctx, "steady state: probing %s/%s%s at %d/s for %s", e.Namespace, e.Service, e.Path, e.Rate, e.SteadyState)
	var steady contract.Observation
	if err := c.observe(ctx, e.SteadyState).Get(ctx, &steady); err != nil {
		return err
	}
	c.st.Steady = &steady
	if f := judge(steady, e.SLO); len(f) > 0 {
		c.st.Failures = append(c.st.Failures, "steady state did not hold, no fault was injected: "+f[0])
		c.event(ctx, "steady state did not hold: %s", f[0])
		return nil
	}
	c.event(ctx, "steady state held: %d requests, p99 %s", steady.Requests, steady.P99.Round(time.Millisecond))

	total := e.Recovery
	for _, f := range e.Faults {
		total += f.Duration
	}
	// The probe runs across every fault and the recovery after them.
	wctx, stopWatch := workflow.WithCancel(ctx)
	defer stopWatch()
	watch := c.observe(wctx, total)
	injectCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: contract.NonRetryable(),
		},
	})
	for i, f := range e.Faults {
		c.st.Stage = fmt.Sprintf("fault %d %s", i+1, f.Kind)
		ttl := f.TTL
		if ttl == 0 {
			ttl = f.Duration + ChaosRemovalMargin
		}
		fin := contract.FaultInput{RunID: c.rid, WorkflowID: c.wid, Index: i, Namespace: e.Namespace, Service: e.Service,
			Fault: f, Expires: workflow.Now(ctx).Add(ttl)}
		PushUndo(&c.saga, fmt.Sprintf("fault %d", i+1), contract.RemoveFault, fin, false)
		if c.firstFault.IsZero() {
			c.firstFault = workflow.Now(ctx)
		}
		res, err := call(injectCtx, contract.InjectFault, fin)
		if err != nil {
			return err
		}
		c.event(ctx, "fault %d %s injected: %s (held %s)", i+1, f.Kind, res.Summary, f.Duration)
		if err := workflow.Sleep(ctx, f.Duration); err != nil {
			return err
		}
		if err := c.saga.Pop(ctx); err != nil {
			return err
		}
		c.event(ctx, "fault %d %s removed", i+1, f.Kind)
	}
	c.st.Stage = "recovery"
	c.event(ctx, "recovery: probing for %s more", e.Recovery)
	var o contract.Observation
	if err := watch.Get(ctx, &o); err != nil {
		return err
	}
	c.st.Observation = &o
	for _, w := range o.Windows {
		c.event(ctx, "error window of %s from %s (%d of %d requests failed, first: %s)", w.Length().Round(time.Millisecond), w.Start.UTC().Format("15:04:05.000"), w.Failed, w.Requests, w.Error)
	}
	c.st.Failures = append(c.st.Failures, judge(o, e.SLO)...)
	if err := c.awaitAlerts(ctx); err != nil {
		return err
	}
	c.st.Failures = append(c.st.Failures, judgeAlerts(e.Alerts, c.st.Notifications, c.firstFault)...)
	return nil
}

// awaitAlerts waits, at most until the latest deadline, for the expected
// alerts that have not arrived yet.
func (c *chaosRun) awaitAlerts(ctx workflow.Context) error {
	var last time.Time
	for _, x := range c.in.Experiment.Alerts.Expect {
		if d := c.firstFault.Add(x.Within); d.After(last) {
			last = d
		}
	}
	wait := last.Sub(workflow.Now(ctx))
	if wait <= 0 {
		return nil
	}
	c.st.Stage = "waiting for alerts"
	_, err := workflow.AwaitWithTimeout(ctx, wait, func() bool {
		for _, x := range c.in.Experiment.Alerts.Expect {
			if _, ok := firstFiring(x, c.st.Notifications); !ok {
				return false
			}
		}
		return true
	})
	return err
}

func alertNames(n AlertNotification) string {
	var names []string
	for _, a := range n.Alerts {
		if !slices.Contains(names, a.Name) {
			names = append(names, a.Name)
		}
	}
	return strings.Join(names, ", ")
}

// firstFiring finds when an expected alert first arrived firing at its
// receiver with its labels.
func firstFiring(x contract.ExpectedAlert, ns []ReceivedAlert) (time.Time, bool) {
	for _, n := range ns {
		if n.Status != "firing" || (x.Receiver != "" && n.Receiver != x.Receiver) {
			continue
		}
		for _, a := range n.Alerts {
			if a.Name == x.Name && a.Status == "firing" && hasLabels(a.Labels, x.Labels) {
				return n.At, true
			}
		}
	}
	return time.Time{}, false
}

// hasLabels tells whether have carries every label of want.
func hasLabels(have map[string]string, want []contract.Label) bool {
	return !slices.ContainsFunc(want, func(l contract.Label) bool { return have[l.Name] != l.Value })
}

// judgeAlerts lists how the alerting failed the experiment: an expected
// alert missing, late or at the wrong receiver, a forbidden one firing, or
// a group notifying more often than the storm limit.
func judgeAlerts(spec contract.Alerts, ns []ReceivedAlert, firstFault time.Time) []string {
	var out []string
	for _, x := range spec.Expect {
		at, ok := firstFiring(x, ns)
		switch {
		case !ok:
			where := ""
			if x.Receiver != "" {
				where = " at receiver " + x.Receiver
			}
			out = append(out, fmt.Sprintf("expected alert %s%s did not fire within %s of the first fault", x.Name, where, x.Within))
		case at.Sub(firstFault) > x.Within:
			out = append(out, fmt.Sprintf("expected alert %s fired %s after the first fault, later than %s", x.Name, at.Sub(firstFault).Round(time.Second), x.Within))
		}
	}
	for _, name := range spec.Forbid {
		for _, n := range ns {
			if n.Status == "firing" && slices.ContainsFunc(n.Alerts, func(a Alert) bool { return a.Name == name && a.Status == "firing" }) {
				out = append(out, fmt.Sprintf("alert %s fired (to %s) and must not", name, n.Receiver))
				break
			}
		}
	}
	if limit := spec.MaxNotifications; limit > 0 {
		firing, groups := 0, map[string]bool{}
		for _, n := range ns {
			if n.Status == "firing" {
				firing++
				groups[n.GroupKey] = true
			}
		}
		if firing > limit {
			out = append(out, fmt.Sprintf("alert storm: %d firing notifications from %d alert group(s), at most %d allowed (are the alerts grouped?)", firing, len(groups), limit))
		}
	}
	return out
}

// judge lists how an observation broke the SLO (nothing: it held).
func judge(o contract.Observation, slo contract.SLO) []string {
	var out []string
	if o.Requests == 0 {
		return []string{"the probe sent no request"}
	}
	for _, u := range o.Unobserved {
		out = append(out, fmt.Sprintf("the target was not probed for %s from %s (the probe's worker was lost): the SLO cannot be judged there",
			u.End.Sub(u.Start).Round(time.Millisecond), u.Start.UTC().Format("15:04:05.000")))
	}
	if l := o.Longest(); l > slo.MaxErrorWindow {
		out = append(out, fmt.Sprintf("error window of %s exceeds the SLO's %s (%d of %d requests failed, resolution %s)",
			l.Round(time.Millisecond), slo.MaxErrorWindow, o.Failed, o.Requests, o.Resolution))
	}
	if slo.MaxP99 > 0 && o.P99 > slo.MaxP99 {
		out = append(out, fmt.Sprintf("p99 latency %s exceeds the SLO's %s", o.P99.Round(time.Millisecond), slo.MaxP99))
	}
	return out
}

// finish removes every fault still on the stack (also when cancelled) and
// sets the verdict.
func (c *chaosRun) finish(ctx workflow.Context, runErr error) (ChaosState, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if len(c.saga.Pending()) > 0 {
		c.st.Stage = "removing faults"
		done, err := c.saga.Compensate(dctx, true)
		for _, u := range done {
			if u.Error == "" {
				c.event(dctx, "%s removed", u.Phase)
			} else {
				c.event(dctx, "%s NOT removed: %s (its expiry still applies)", u.Phase, u.Error)
			}
		}
		if err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	c.st.Stage = ""
	switch {
	case runErr != nil && (temporal.IsCanceledError(runErr) || ctx.Err() != nil):
		c.st.State = ChaosCancelled
	case runErr != nil:
		c.st.State = ChaosFailed
		c.st.Failures = append(c.st.Failures, "the experiment could not run: "+errorMessage(runErr))
	case len(c.st.Failures) > 0:
		c.st.State = ChaosFailed
	default:
		c.st.State = ChaosPassed
	}
	c.event(dctx, "experiment %s", c.st.State)
	c.record(dctx)
	switch c.st.State {
	case ChaosPassed:
		return c.st, nil
	case ChaosCancelled:
		return c.st, temporal.NewCanceledError(c.st)
	}
	return c.st, temporal.NewNonRetryableApplicationError("experiment failed: "+c.st.Failures[0], ErrExperimentFailed, nil, c.st)
}
