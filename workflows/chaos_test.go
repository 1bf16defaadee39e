package workflows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/contract/bind"
	"github.com/sluice-cd/sluice/pipelines"
)

// chaosHarness scripts the chaos activities and records their calls.
type chaosHarness struct {
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	// observations are returned by ChaosObserve in order.
	observations []contract.Observation
	injectErr    error

	mu    sync.Mutex
	calls []string
	// records are the run records the experiment wrote.
	records []contract.RunRecord
}

func (h *chaosHarness) record(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, s)
}

func (h *chaosHarness) Calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

func newChaosHarness(obs ...contract.Observation) *chaosHarness {
	h := &chaosHarness{observations: obs}
	h.env = h.NewTestWorkflowEnvironment()
	h.env.RegisterWorkflow(Chaos)
	n := 0
	bind.Activity(h.env, contract.ChaosObserve, func(_ context.Context, in contract.ObserveInput) (contract.Observation, error) {
		h.mu.Lock()
		o := h.observations[min(n, len(h.observations)-1)]
		n++
		h.mu.Unlock()
		h.record("observe")
		return o, nil
	})
	bind.Activity(h.env, contract.InjectFault, func(_ context.Context, in contract.FaultInput) (contract.FaultResult, error) {
		h.record("inject:" + in.Fault.Kind)
		return contract.FaultResult{Summary: "done"}, h.injectErr
	})
	bind.Undo(h.env, contract.RemoveFault, func(_ context.Context, in contract.FaultInput) error {
		h.record("remove:" + in.Fault.Kind)
		return nil
	})
	bind.Activity(h.env, contract.RecordRun, func(_ context.Context, r contract.RunRecord) (contract.Nothing, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.records = append(h.records, r)
		return contract.Nothing{}, nil
	})
	return h
}

func experiment() ChaosInput {
	return ChaosInput{Experiment: contract.Experiment{
		Name: "kill", Namespace: "hello", Service: "hello", Path: "/", Rate: 20, ProbeTimeout: time.Second,
		SteadyState: 5 * time.Second, Recovery: 5 * time.Second,
		SLO: contract.SLO{MaxErrorWindow: time.Second, MaxP99: 500 * time.Millisecond},
		Faults: []contract.Fault{
			{Kind: contract.FaultPodKill, Duration: 10 * time.Second, Count: 1},
			{Kind: contract.FaultUpgrade, Duration: 20 * time.Second, Image: "r/app@sha256:" + strings.Repeat("a", 64)},
		},
	}}
}

var healthy = contract.Observation{Requests: 100, P99: 10 * time.Millisecond, Resolution: 50 * time.Millisecond}

func (h *chaosHarness) result(t *testing.T) (ChaosState, error) {
	t.Helper()
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var st ChaosState
	err := h.env.GetWorkflowResult(&st)
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	switch {
	case errors.As(err, &appErr):
		if derr := appErr.Details(&st); derr != nil {
			t.Fatal(derr)
		}
	case errors.As(err, &canceled):
		if derr := canceled.Details(&st); derr != nil {
			t.Fatal(derr)
		}
	}
	return st, err
}

func TestChaosPassesWhenTheSLOHolds(t *testing.T) {
	h := newChaosHarness(healthy, healthy)
	in := experiment()
	in.Project = "payments" // the record is the project's
	h.env.ExecuteWorkflow(Chaos, in)
	st, err := h.result(t)
	if err != nil || st.State != ChaosPassed {
		t.Fatalf("state %s, err %v, failures %v", st.State, err, st.Failures)
	}
	if len(h.records) != 1 || h.records[0].State != ChaosPassed || h.records[0].Error != "" || len(h.records[0].Events) != 0 || h.records[0].Project != "payments" {
		t.Errorf("records %+v, want one verdict: passed", h.records)
	}
	// the second probe runs beside the faults: only the faults' order is fixed
	want := []string{"inject:pod-kill", "remove:pod-kill", "inject:upgrade", "remove:upgrade"}
	if got := only(h.Calls(), "inject", "remove"); !slices.Equal(got, want) || len(only(h.Calls(), "observe")) != 2 {
		t.Fatalf("calls\n got %v\nwant 2 observe and %v", h.Calls(), want)
	}
	if len(st.Undo) != 0 {
		t.Errorf("faults left to remove: %+v", st.Undo)
	}
}

func TestChaosFailsOnTheSLO(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	broken := healthy
	broken.Failed = 40
	broken.Windows = []contract.ErrorWindow{{Start: at, End: at.Add(2 * time.Second), Failed: 40, Error: "connection refused"}}
	slow := healthy
	slow.P99 = time.Second
	for name, tc := range map[string]struct {
		obs  []contract.Observation
		want string
		// faults: whether any fault was injected
		faults bool
	}{
		"error window":  {[]contract.Observation{healthy, broken}, "error window of 2s exceeds the SLO's 1s", true},
		"latency":       {[]contract.Observation{healthy, slow}, "p99 latency 1s exceeds the SLO's 500ms", true},
		"steady state":  {[]contract.Observation{broken}, "steady state did not hold, no fault was injected", false},
		"probe was cut": {[]contract.Observation{healthy, {Requests: 10, Unobserved: []contract.Span{{Start: at, End: at.Add(3 * time.Second)}}}}, "not probed for 3s", true},
	} {
		t.Run(name, func(t *testing.T) {
			h := newChaosHarness(tc.obs...)
			h.env.ExecuteWorkflow(Chaos, experiment())
			st, err := h.result(t)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != ErrExperimentFailed {
				t.Fatalf("err %v, want %s", err, ErrExperimentFailed)
			}
			if st.State != ChaosFailed || len(st.Failures) == 0 || !strings.Contains(st.Failures[0], tc.want) {
				t.Fatalf("state %s, failures %q, want one with %q", st.State, st.Failures, tc.want)
			}
			injected := slices.Contains(h.Calls(), "inject:pod-kill")
			if injected != tc.faults {
				t.Errorf("faults injected: %v, want %v (calls %v)", injected, tc.faults, h.Calls())
			}
			// the verdict is in the records, with its reasons
			if len(h.records) != 1 {
				t.Fatalf("records %+v, want one", h.records)
			}
			r := h.records[0]
			if r.Kind != contract.RecordChaos || r.Pipeline != "kill" || r.Environment != "hello" || r.State != ChaosFailed ||
				!strings.Contains(r.Error, tc.want) || len(r.Events) != len(st.Failures) || r.Events[0].Kind != contract.EventFailure || r.Finished.IsZero() {
				t.Errorf("record %+v", r)
			}
		})
	}
}

// TestChaosRemovesFaultsHoweverItEnds cancels the experiment while a fault
// is held, and fails one whose injection breaks half-way: each fault that
// was (or may have been) injected is removed.
func TestChaosRemovesFaultsHoweverItEnds(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		h := newChaosHarness(healthy, healthy)
		// steady state (an activity, no workflow time), then the first
		// fault is held 10s: cancel 5s into it.
		h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 5*time.Second)
		h.env.ExecuteWorkflow(Chaos, experiment())
		st, err := h.result(t)
		if !temporal.IsCanceledError(err) || st.State != ChaosCancelled {
			t.Fatalf("state %s, err %v", st.State, err)
		}
		want := []string{"inject:pod-kill", "remove:pod-kill"}
		if got := only(h.Calls(), "inject", "remove"); !slices.Equal(got, want) {
			t.Fatalf("calls\n got %v\nwant %v", got, want)
		}
	})
	t.Run("injection failed", func(t *testing.T) {
		h := newChaosHarness(healthy, healthy)
		h.injectErr = temporal.NewNonRetryableApplicationError("no pods", contract.ErrInvalidInput, nil)
		h.env.ExecuteWorkflow(Chaos, experiment())
		st, err := h.result(t)
		if err == nil || st.State != ChaosFailed || !strings.Contains(strings.Join(st.Failures, " "), "could not run") {
			t.Fatalf("state %s, err %v, failures %v", st.State, err, st.Failures)
		}
		if got := h.Calls(); !slices.Contains(got, "remove:pod-kill") {
			t.Fatalf("the fault whose injection failed was not removed: %v", got)
		}
	})
}

// TestChaosPhase runs a pipeline whose chaos phase has two experiments
// (Chaos child workflows against the run's test environment): both pass
// and the run goes on; a failing one fails the phase and the run's
// compensation removes the environment after the child removed its fault.
func TestChaosPhase(t *testing.T) {
	spec := func(t *testing.T) PipelineInput {
		s := fullSpec(t)
		s.Chaos = &pipelines.ChaosPhase{Experiments: []string{"chaos/kill.yml", "chaos/upgrade.yml"}, Timeout: pipelines.Duration(time.Hour)}
		s.Approval = nil
		return input(s)
	}
	setup := func(t *testing.T, obs ...contract.Observation) (*harness, *chaosHarness) {
		h := newHarness(t)
		ch := &chaosHarness{observations: obs}
		h.env.RegisterWorkflow(Chaos)
		var loaded contract.ExperimentsInput
		bind.Activity(h.env, contract.LoadExperiments, func(_ context.Context, in contract.ExperimentsInput) ([]contract.Experiment, error) {
			loaded = in
			h.record("LoadExperiments", in)
			var out []contract.Experiment
			for _, name := range []string{"kill", "upgrade"} {
				e := experiment().Experiment
				e.Name, e.Namespace, e.Faults = name, in.Namespace, e.Faults[:1]
				out = append(out, e)
			}
			return out, nil
		})
		n := 0
		bind.Activity(h.env, contract.ChaosObserve, func(_ context.Context, in contract.ObserveInput) (contract.Observation, error) {
			ch.mu.Lock()
			defer ch.mu.Unlock()
			o := ch.observations[min(n, len(ch.observations)-1)]
			n++
			if in.Namespace != loaded.Namespace || in.Namespace == "" {
				return o, errors.New("probing outside the run's environment: " + in.Namespace)
			}
			return o, nil
		})
		bind.Activity(h.env, contract.InjectFault, func(_ context.Context, in contract.FaultInput) (contract.FaultResult, error) {
			h.record("InjectFault", in)
			return contract.FaultResult{Summary: "killed"}, nil
		})
		bind.Undo(h.env, contract.RemoveFault, func(_ context.Context, in contract.FaultInput) error {
			h.record("RemoveFault", in)
			return nil
		})
		return h, ch
	}
	t.Run("passes", func(t *testing.T) {
		h, _ := setup(t, healthy)
		h.env.ExecuteWorkflow(Pipeline, spec(t))
		st, err := h.result(t)
		if err != nil || st.State != StateSucceeded {
			t.Fatalf("state %s: %v", st.State, err)
		}
		got := only(h.Calls(), "Integration", "LoadExperiments", "InjectFault", "RemoveFault", "MarkAvailable")
		want := []string{"Integration", "LoadExperiments", "InjectFault", "RemoveFault", "InjectFault", "RemoveFault", "MarkAvailable"}
		if !slices.Equal(got, want) {
			t.Fatalf("calls\n got %v\nwant %v", got, want)
		}
		if !strings.HasPrefix(st.Outputs.ChaosSummary, "2 experiment(s) passed: kill (") || !strings.Contains(st.Outputs.ChaosSummary, "/chaos/upgrade)") {
			t.Errorf("summary %q", st.Outputs.ChaosSummary)
		}
		if in := h.input("LoadExperiments").(contract.ExperimentsInput); in.Namespace != st.Outputs.Environment || len(in.Files) != 2 {
			t.Errorf("experiments loaded for %+v, environment %s", in, st.Outputs.Environment)
		}
	})
	t.Run("an experiment fails", func(t *testing.T) {
		broken := healthy
		broken.Windows = []contract.ErrorWindow{{Start: time.Unix(0, 0), End: time.Unix(5, 0), Failed: 100}}
		h, _ := setup(t, healthy, broken)
		h.env.ExecuteWorkflow(Pipeline, spec(t))
		st, err := h.result(t)
		if err == nil || st.State != StateFailed || st.Phase != pipelines.PhaseChaos || !strings.Contains(st.Error, "error window of 5s") {
			t.Fatalf("state %s phase %s error %q (%v)", st.State, st.Phase, st.Error, err)
		}
		got := only(h.Calls(), "InjectFault", "RemoveFault", "undo:", "MarkAvailable")
		want := []string{"InjectFault", "RemoveFault", "undo:DeleteEnvironment"}
		if !slices.Equal(got, want) {
			t.Fatalf("calls\n got %v\nwant %v", got, want)
		}
	})
}

// TestChaosJudgesTheAlerting delivers Alertmanager notifications to an
// experiment that expects one alert at its receiver within a minute,
// forbids another and allows three notifications.
func TestChaosJudgesTheAlerting(t *testing.T) {
	firing := func(receiver, group string, names ...string) AlertNotification {
		n := AlertNotification{Receiver: receiver, Status: "firing", GroupKey: group}
		for _, name := range names {
			n.Alerts = append(n.Alerts, Alert{Name: name, Status: "firing", Labels: map[string]string{"alertname": name, "severity": "page"}})
		}
		return n
	}
	type delivery struct {
		after time.Duration
		n     AlertNotification
	}
	for name, tc := range map[string]struct {
		deliveries []delivery
		want       string // "" passes
	}{
		"fires in time":      {[]delivery{{20 * time.Second, firing("oncall", "g1", "HelloErrors")}}, ""},
		"never fires":        {nil, "expected alert HelloErrors at receiver oncall did not fire within 1m0s"},
		"too late":           {[]delivery{{90 * time.Second, firing("oncall", "g1", "HelloErrors")}}, "did not fire within 1m0s"},
		"wrong receiver":     {[]delivery{{20 * time.Second, firing("team-chat", "g1", "HelloErrors")}}, "did not fire within"},
		"forbidden fires":    {[]delivery{{5 * time.Second, firing("oncall", "g1", "HelloErrors")}, {6 * time.Second, firing("oncall", "g2", "HelloLatency")}}, "alert HelloLatency fired (to oncall) and must not"},
		"storm":              {[]delivery{{5 * time.Second, firing("oncall", "a", "HelloErrors")}, {6 * time.Second, firing("oncall", "b", "PodDown")}, {7 * time.Second, firing("oncall", "c", "PodDown")}, {8 * time.Second, firing("oncall", "d", "PodDown")}}, "alert storm: 4 firing notifications from 4 alert group(s), at most 3 allowed"},
		"resolved only once": {[]delivery{{5 * time.Second, AlertNotification{Receiver: "oncall", Status: "resolved", GroupKey: "g1", Alerts: []Alert{{Name: "HelloErrors", Status: "resolved"}}}}}, "did not fire"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newChaosHarness(healthy, healthy)
			in := experiment()
			in.Experiment.Alerts = contract.Alerts{
				Expect:           []contract.ExpectedAlert{{Name: "HelloErrors", Labels: []contract.Label{{Name: "severity", Value: "page"}}, Receiver: "oncall", Within: time.Minute}},
				Forbid:           []string{"HelloLatency"},
				MaxNotifications: 3,
			}
			for _, d := range tc.deliveries {
				h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalAlert, d.n) }, d.after)
			}
			h.env.ExecuteWorkflow(Chaos, in)
			st, err := h.result(t)
			if tc.want == "" {
				if err != nil || st.State != ChaosPassed {
					t.Fatalf("state %s: %v %q", st.State, err, st.Failures)
				}
				if len(st.Notifications) != len(tc.deliveries) {
					t.Errorf("notifications %+v", st.Notifications)
				}
				return
			}
			if st.State != ChaosFailed || !strings.Contains(strings.Join(st.Failures, "; "), tc.want) {
				t.Fatalf("state %s, failures %q, want %q", st.State, st.Failures, tc.want)
			}
		})
	}
}
