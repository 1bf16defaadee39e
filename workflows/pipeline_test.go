package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/contract/bind"
	"github.com/sluice-cd/sluice/pipelines"
)

// fullSpec enables every phase.
func fullSpec(t *testing.T) pipelines.Spec {
	t.Helper()
	src := `version: 1
name: hello
environments:
  production: {namespace: hello}
build: {commands: [make]}
test: {commands: [make test]}
bake: {image: 127.0.0.1:5000/acme/hello}
deploy: {manifests: k8s}
integration: {image: 127.0.0.1:5000/acme/it, commands: [./it]}
promote: {}
approval:
  approvers: {users: [alice, bob, carol], groups: [leads]}
  required: 1
  timeout: 48h
  reminder: 12h
  max-reminders: 2
production: {manifests: k8s-prod}
`
	s, err := pipelines.Parse(".sluice.yml", []byte(src), "hello")
	if err != nil {
		t.Fatal(err)
	}
	return *s
}

func input(spec pipelines.Spec) PipelineInput {
	return PipelineInput{
		Request: Request{
			Push: Push{Repo: "acme/hello", CloneURL: "/repos/hello", Branch: "main",
				Commit: strings.Repeat("a", 40), Author: "carol@example.com", AuthorIDs: []string{"carol"}, DeliveryID: "d1"},
			Spec: spec,
		},
		Groups: map[string][]string{"leads": {"dave"}},
	}
}

// harness scripts every activity and records the order they ran in.
// Activities run on goroutines of the test environment (commit statuses are
// not waited for), so everything recorded is guarded by mu.
type harness struct {
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	// metrics keeps what the workflow recorded.
	metrics *captured
	// failAt makes that phase's activity fail with a non-retryable error.
	failAt string
	// analysis is what production's analysis finds; checkErr what its
	// check of the queries returns.
	analysis contract.AnalysisResult
	checkErr error
	// runRecords are the run records written, in order; recordFailures
	// records fail before one is written.
	runRecords     []contract.RunRecord
	recordFailures int
	// statusErr is what every commit status update returns.
	statusErr error
	// lostWorkers[phase] attempts of that phase's steps lose their worker
	// (time out on heartbeats) before one succeeds.
	lostWorkers map[string]int
	// slow makes that phase's steps take this long (real time, which the
	// test environment's clock follows while an activity runs).
	slow map[string]time.Duration
	// hold makes these activities (by recorded name) take 50 ms of real
	// time; maxHolding is how many of them ever ran at once.
	hold                map[string]bool
	holding, maxHolding int

	mu    sync.Mutex
	calls []string
	// inputs records activity inputs by name; times when each first ran
	// (workflow time).
	inputs map[string]any
	times  map[string]time.Time
	// notices records every notice sent.
	notices []contract.Notice
	// policy is what the worker tells an approval gate.
	policy contract.ApprovalPolicy
	// release is what Production returns; duringRelease runs inside it.
	release       contract.ProductionResult
	duringRelease func()
	// cell decides how a job cell ends (nil: it passes); cells records
	// each cell's input in the order they started.
	cell  func(context.Context, contract.StepsInput) error
	cells []contract.StepsInput
}

func (h *harness) record(name string, in any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold[name] {
		// held for a while: how many held activities run at once
		h.holding++
		h.maxHolding = max(h.maxHolding, h.holding)
		h.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		h.mu.Lock()
		h.holding--
	}
	h.calls = append(h.calls, name)
	if _, ok := h.times[name]; !ok {
		h.times[name] = h.env.Now()
	}
	if in != nil {
		h.inputs[name] = in
	}
}

// Calls returns the activities that ran so far, in order.
func (h *harness) Calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

func (h *harness) input(name string) any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inputs[name]
}

func (h *harness) at(name string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.times[name]
}

func (h *harness) Notices() []contract.Notice {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.notices)
}

func newHarness(t *testing.T) *harness {
	h := &harness{inputs: map[string]any{}, lostWorkers: map[string]int{}, times: map[string]time.Time{}, release: contract.ProductionResult{Revision: "7"}}
	h.metrics = newCaptured()
	h.SetMetricsHandler(h.metrics)
	h.env = h.NewTestWorkflowEnvironment()
	h.env.RegisterWorkflow(Pipeline)
	fail := func(phase string) error {
		if h.failAt == phase {
			return temporal.NewNonRetryableApplicationError(phase+" broke", contract.ErrStepFailed, nil)
		}
		return nil
	}
	bind.Activity(h.env, contract.SetCommitStatus, func(_ context.Context, in contract.StatusInput) (contract.Nothing, error) {
		if in.Name != "" {
			h.record("status["+in.Name+"]:"+in.State+":"+in.Description, nil)
		} else {
			h.record("status:"+in.State+":"+in.Description, nil)
		}
		return contract.Nothing{}, h.statusErr
	})
	bind.Activity(h.env, contract.RunSteps, func(ctx context.Context, in contract.StepsInput) (contract.StepsResult, error) {
		if in.Cell != "" {
			h.record("Cell:"+in.Job, in)
			h.mu.Lock()
			h.cells = append(h.cells, in)
			h.mu.Unlock()
			var err error
			if h.cell != nil {
				err = h.cell(ctx, in)
			}
			res := contract.StepsResult{Summary: "ok"}
			if len(in.Artifacts) > 0 {
				res.Artifacts = "127.0.0.1:5000/sluice-artifacts/acme/hello@sha256:" + in.Cell
			}
			return res, err
		}
		h.record("Run:"+in.Phase, in)
		h.mu.Lock()
		lost := h.lostWorkers[in.Phase] > 0
		if lost {
			h.lostWorkers[in.Phase]--
		}
		h.mu.Unlock()
		if lost {
			return contract.StepsResult{}, temporal.NewHeartbeatTimeoutError()
		}
		time.Sleep(h.slow[in.Phase])
		ws := contract.Workspace{Kind: contract.WorkspaceLocal, Path: "/ws/" + in.RunID}
		if in.Pool != "" {
			ws = contract.Workspace{Kind: contract.WorkspacePod, Pool: in.Pool, Namespace: "builds", Pod: "pod-" + in.RunID, Claim: in.RunID, Path: "/workspace"}
		}
		res := contract.StepsResult{Workspace: ws, Summary: in.Phase + " ok"}
		if len(in.Artifacts) > 0 {
			res.Artifacts = in.ArtifactRepo + "@sha256:art"
		}
		return res, fail(in.Phase)
	})
	bind.Activity(h.env, contract.Bake, func(_ context.Context, in contract.BakeInput) (contract.BakeResult, error) {
		h.record("Bake", in)
		return contract.BakeResult{Image: "127.0.0.1:5000/acme/hello:aaaa", Digest: "sha256:beef"}, fail(pipelines.PhaseBake)
	})
	bind.Activity(h.env, contract.Deploy, func(_ context.Context, in contract.DeployInput) (contract.DeployResult, error) {
		h.record("Deploy", in)
		return contract.DeployResult{Namespace: in.Namespace}, fail(pipelines.PhaseDeploy)
	})
	bind.Activity(h.env, contract.Integration, func(_ context.Context, in contract.IntegrationInput) (contract.IntegrationResult, error) {
		h.record("Integration", in)
		return contract.IntegrationResult{Summary: "12 passed"}, fail(pipelines.PhaseIntegration)
	})
	bind.Activity(h.env, contract.MarkAvailable, func(_ context.Context, in contract.PromoteInput) (contract.PromoteResult, error) {
		h.record("MarkAvailable", in)
		return contract.PromoteResult{Tag: in.Tag}, fail(pipelines.PhasePromote)
	})
	bind.Activity(h.env, contract.Production, func(_ context.Context, in contract.ProductionInput) (contract.ProductionResult, error) {
		h.record("Production", in)
		if h.duringRelease != nil {
			h.duringRelease()
		}
		return h.release, fail(pipelines.PhaseProduction)
	})
	bind.Activity(h.env, contract.Analyze, func(_ context.Context, in contract.AnalysisInput) (contract.AnalysisResult, error) {
		if in.Check {
			h.record("Analyze:check", in)
			return contract.AnalysisResult{}, h.checkErr
		}
		h.record("Analyze", in)
		return h.analysis, nil
	})
	bind.Activity(h.env, contract.SetCanaryWeight, func(_ context.Context, in contract.CanaryInput) (contract.Nothing, error) {
		h.record(fmt.Sprint("SetCanaryWeight:", in.Weight), in)
		return contract.Nothing{}, nil
	})
	bind.Activity(h.env, contract.PromoteCanary, func(_ context.Context, in contract.ReleaseRef) (contract.Nothing, error) {
		h.record("PromoteCanary", in)
		return contract.Nothing{}, nil
	})
	bind.Undo(h.env, contract.UndoRelease, func(_ context.Context, in contract.ReleaseRef) error {
		h.record("undo:UndoRelease", in)
		return nil
	})
	bind.Activity(h.env, contract.RetireRelease, func(_ context.Context, in contract.ReleaseRef) (contract.Nothing, error) {
		h.record("RetireRelease", in)
		return contract.Nothing{}, nil
	})
	bind.Undo(h.env, contract.ReleaseWorkspace, func(_ context.Context, in contract.WorkspaceRef) error {
		h.record("Cleanup", in)
		return nil
	})
	bind.Undo(h.env, contract.DeleteEnvironment, func(_ context.Context, in contract.EnvironmentRef) error {
		h.record("undo:DeleteEnvironment", in)
		return nil
	})
	bind.Undo(h.env, contract.RemoveTag, func(_ context.Context, in contract.TagRef) error {
		h.record("undo:RemoveTag", in)
		return nil
	})
	bind.Activity(h.env, contract.GetApprovalPolicy, func(_ context.Context, _ contract.Nothing) (contract.ApprovalPolicy, error) {
		h.record("ApprovalPolicy", nil)
		return h.policy, nil
	})
	bind.Activity(h.env, contract.RecordRun, func(_ context.Context, in contract.RunRecord) (contract.Nothing, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.recordFailures > 0 {
			h.recordFailures--
			return contract.Nothing{}, errors.New("records database unreachable")
		}
		h.runRecords = append(h.runRecords, in)
		return contract.Nothing{}, nil
	})
	bind.Activity(h.env, contract.SendNotice, func(_ context.Context, in contract.Notice) (contract.MessageRef, error) {
		h.record("notify:"+in.Kind, nil)
		h.mu.Lock()
		h.notices = append(h.notices, in)
		h.mu.Unlock()
		return contract.MessageRef{Channel: "C1", TS: "1.0"}, nil
	})
	return h
}

// approveAt sends an approve update after d of workflow time.
func (h *harness) decideAt(t *testing.T, d time.Duration, name string, dec Decision) *updateResult {
	t.Helper()
	res := &updateResult{}
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() { res.accepted = true },
			OnReject: func(err error) { res.rejected = err },
			OnComplete: func(v any, err error) {
				res.completed = true
				res.err = err
			},
		}, dec)
	}, d)
	return res
}

type updateResult struct {
	accepted, completed bool
	rejected, err       error
}

func (h *harness) result(t *testing.T) (RunState, error) {
	t.Helper()
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var st RunState
	err := h.env.GetWorkflowResult(&st)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.HasDetails() {
			if derr := appErr.Details(&st); derr != nil {
				t.Fatalf("failure details: %v", derr)
			}
		}
		var canceled *temporal.CanceledError
		if errors.As(err, &canceled) && canceled.HasDetails() {
			_ = canceled.Details(&st)
		}
	}
	return st, err
}

func only(calls []string, prefix ...string) []string {
	var out []string
	for _, c := range calls {
		for _, p := range prefix {
			if strings.HasPrefix(c, p) {
				out = append(out, c)
			}
		}
	}
	return out
}

func TestAllPhasesSucceed(t *testing.T) {
	h := newHarness(t)
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
	st, err := h.result(t)
	if err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if st.State != StateSucceeded {
		t.Fatalf("state %s", st.State)
	}
	// the phases in order, then their cleanup (test environment, workspace)
	// at once, in any order
	want := []string{"Run:build", "Run:test", "Bake", "Deploy", "Integration", "MarkAvailable", "Production", "Cleanup", "undo:DeleteEnvironment"}
	got := only(h.Calls(), "Run:", "Bake", "Deploy", "Integration", "Mark", "Production", "undo:", "Cleanup")
	if len(got) > 7 {
		slices.Sort(got[7:])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls\n got %v\nwant %v", got, want)
	}
	for _, p := range st.Phases {
		if p.Status != PhaseSucceeded {
			t.Errorf("phase %s is %s", p.Name, p.Status)
		}
	}
	// Outputs flow from phase to phase.
	deploy := h.input("Deploy").(contract.DeployInput)
	if deploy.Digest != "sha256:beef" || !deploy.Ephemeral || !strings.HasPrefix(deploy.Namespace, "sluice-hello-") {
		t.Errorf("deploy input lacks earlier outputs: %+v", deploy)
	}
	if bake := h.input("Bake").(contract.BakeInput); bake.Workspace != st.Outputs.Workspace || bake.Workspace.IsZero() {
		t.Errorf("bake did not get the build workspace: %+v", bake.Workspace)
	}
	integ := h.input("Integration").(contract.IntegrationInput)
	if integ.Namespace != deploy.Namespace {
		t.Errorf("integration ran in %q, deploy in %q", integ.Namespace, deploy.Namespace)
	}
	if test := h.input("Run:test").(contract.StepsInput); test.Workspace != st.Outputs.Workspace {
		t.Errorf("test did not reuse the build workspace: %q", test.Workspace)
	}
	if prod := h.input("Production").(contract.ProductionInput); prod.Namespace != "hello" || prod.Digest != "sha256:beef" {
		t.Errorf("production input: %+v", prod)
	}
	if st.Outputs.ProductionRevision != "7" || !slices.Equal(st.Outputs.ApprovedBy, []string{"alice"}) || st.Outputs.AvailableTag != "available" {
		t.Errorf("outputs: %+v", st.Outputs)
	}
}

// TestFailureInEachPhaseCompensates fails each phase in turn and checks
// exactly the undo steps of the phases before it ran, newest first.
func TestFailureInEachPhaseCompensates(t *testing.T) {
	cases := []struct {
		phase string
		undos []string
	}{
		{pipelines.PhaseBuild, nil},
		{pipelines.PhaseTest, nil},
		{pipelines.PhaseBake, nil},
		{pipelines.PhaseDeploy, []string{"undo:DeleteEnvironment"}},
		{pipelines.PhaseIntegration, []string{"undo:DeleteEnvironment"}},
		{pipelines.PhasePromote, []string{"undo:RemoveTag", "undo:DeleteEnvironment"}},
		{pipelines.PhaseProduction, []string{"undo:UndoRelease", "undo:RemoveTag", "undo:DeleteEnvironment"}},
	}
	for _, tc := range cases {
		t.Run(tc.phase, func(t *testing.T) {
			h := newHarness(t)
			h.failAt = tc.phase
			h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
			h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
			st, err := h.result(t)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != ErrPhaseFailed {
				t.Fatalf("want PhaseFailed, got %v", err)
			}
			if st.State != StateFailed || st.Phase != tc.phase || !strings.Contains(st.Error, tc.phase+" broke") {
				t.Fatalf("state %s phase %s error %q", st.State, st.Phase, st.Error)
			}
			if got := only(h.Calls(), "undo:"); !slices.Equal(got, tc.undos) {
				t.Fatalf("undos %v, want %v", got, tc.undos)
			}
			if slices.Contains(h.Calls(), "Cleanup") {
				t.Error("a failed run must keep its workspace for retry")
			}
			last := h.Notices()[len(h.Notices())-1]
			if last.Kind != contract.NoticeRunFinished || !strings.Contains(last.Text, "failed in phase "+tc.phase) ||
				(len(tc.undos) > 0) != strings.Contains(last.Text, "rolled back: ") {
				t.Errorf("result notice %q", last.Text)
			}
			if ps := st.PhaseByName(tc.phase); ps.Status != PhaseFailed {
				t.Errorf("failed phase status %s", ps.Status)
			}
			for _, later := range pipelines.PhaseOrder[slices.Index(pipelines.PhaseOrder, tc.phase)+1:] {
				if ps := st.PhaseByName(later); ps != nil && ps.Status != PhasePending {
					t.Errorf("phase %s after the failure is %s", later, ps.Status)
				}
			}
		})
	}
}

func TestCancelRunsCompensation(t *testing.T) {
	h := newHarness(t)
	// cancel while waiting for approval: deploy and promote have run
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, time.Hour)
	h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
	st, err := h.result(t)
	if !temporal.IsCanceledError(err) {
		t.Fatalf("want cancelled, got %v", err)
	}
	if st.State != StateCancelled {
		t.Fatalf("state %s", st.State)
	}
	if got := only(h.Calls(), "undo:"); !slices.Equal(got, []string{"undo:RemoveTag", "undo:DeleteEnvironment"}) {
		t.Fatalf("undos %v", got)
	}
	if slices.Contains(h.Calls(), "Production") {
		t.Fatal("production ran after cancel")
	}
}

func TestSupersedeCompensatesAndContinuesWithNewPush(t *testing.T) {
	h := newHarness(t)
	in := input(fullSpec(t))
	newer := in.Request
	newer.Push.Commit, newer.Push.DeliveryID = strings.Repeat("b", 40), "d2"
	h.env.RegisterDelayedCallback(func() {
		// a redelivery of the running push is ignored
		h.env.SignalWorkflow(SignalPush, in.Request)
	}, 30*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalPush, newer) }, time.Hour)
	h.env.ExecuteWorkflow(Pipeline, in)
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("not completed")
	}
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("want continue-as-new with the newer push, got %v", err)
	}
	if got := only(h.Calls(), "undo:"); !slices.Equal(got, []string{"undo:RemoveTag", "undo:DeleteEnvironment"}) {
		t.Fatalf("undos %v", got)
	}
	var next PipelineInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Push.Commit != newer.Push.Commit || !slices.Contains(next.Seen, "d1") {
		t.Fatalf("next run input %+v", next.Push)
	}
}

func TestQueuedPushRunsAfterCurrent(t *testing.T) {
	h := newHarness(t)
	spec := fullSpec(t)
	spec.Concurrency = pipelines.Queue
	in := input(spec)
	newer := in.Request
	newer.Push.Commit, newer.Push.DeliveryID = strings.Repeat("c", 40), "d3"
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalPush, newer) }, 30*time.Minute)
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "bob"})
	h.env.ExecuteWorkflow(Pipeline, in)
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new for the queued push, got %v", err)
	}
	if !slices.Contains(h.Calls(), "Production") || len(only(h.Calls(), "undo:RemoveTag")) != 0 {
		t.Fatalf("current run must finish untouched: %v", h.Calls())
	}
	var next PipelineInput
	_ = converter.GetDefaultDataConverter().FromPayloads(can.Input, &next)
	if next.Push.Commit != newer.Push.Commit {
		t.Fatalf("next commit %s", next.Push.Commit)
	}
}

// TestRetryReusesEarlierOutputs resumes at integration: build, test, bake
// and deploy do not run again and their outputs are used.
func TestRetryReusesEarlierOutputs(t *testing.T) {
	h := newHarness(t)
	in := input(fullSpec(t))
	in.Resume = &Resume{FromRun: "run-1", Phase: pipelines.PhaseDeploy, Outputs: Outputs{
		Workspace: contract.Workspace{Kind: contract.WorkspaceLocal, Path: "/ws/run-1"}, Image: "127.0.0.1:5000/acme/hello:old", Digest: "sha256:old", TestSummary: "ok"}}
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, in)
	st, err := h.result(t)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(h.Calls(), "Run:build") || slices.Contains(h.Calls(), "Bake") {
		t.Fatalf("reused phases ran again: %v", h.Calls())
	}
	if d := h.input("Deploy").(contract.DeployInput); d.Digest != "sha256:old" {
		t.Fatalf("deploy did not get reused outputs: %+v", d)
	}
	for _, name := range []string{"build", "test", "bake"} {
		if ps := st.PhaseByName(name); ps.Status != PhaseReused {
			t.Errorf("%s is %s", name, ps.Status)
		}
	}
	if st.ResumedFrom != "run-1" {
		t.Errorf("resumed from %q", st.ResumedFrom)
	}
}

// TestRunsOfOneMillisecondHaveTheirOwnNamespaces: two runs of a pipeline
// started in the same millisecond (UUIDv7 run ids with one timestamp) get
// two namespaces.
func TestRunsOfOneMillisecondHaveTheirOwnNamespaces(t *testing.T) {
	a := TestNamespace("hello", "019af3c2-51d0-7aa1-9c3e-5f0e2b7d4a11")
	b := TestNamespace("hello", "019af3c2-51d0-7bb2-8d4f-6a1f3c8e5b22")
	if a == b {
		t.Fatalf("both runs got %q", a)
	}
}

func TestTestNamespaceIsDNSLabel(t *testing.T) {
	got := TestNamespace("Acme/Hello_World", "0193abcd-ef01-7000-8000-0000000000aa")
	if got != "sluice-acme-hello-world-0000000000aa" {
		t.Fatalf("got %q", got)
	}
	if old := testNamespaceBefore4("Acme/Hello_World", "0193abcd-ef01-7000-8000-0000000000aa"); old != "sluice-acme-hello-world-0193abcdef01" {
		t.Fatalf("before epoch 4: got %q", old)
	}
	if long := TestNamespace(strings.Repeat("x", 100), "id"); len(long) > 63 {
		t.Fatalf("too long: %d", len(long))
	}
}

// TestWorkerLossesDoNotExhaustThePhase loses the build's worker more often
// than one activity's attempt budget: the phase runs again instead of
// failing, and a step that loses its worker every time still fails in the
// end.
func TestWorkerLossesDoNotExhaustThePhase(t *testing.T) {
	t.Run("recovers", func(t *testing.T) {
		h := newHarness(t)
		lost := defaultRetry.MaximumAttempts + 3
		h.lostWorkers[pipelines.PhaseBuild] = int(lost)
		spec := fullSpec(t)
		spec.Bake, spec.Deploy, spec.Integration, spec.Promote, spec.Approval, spec.Production = nil, nil, nil, nil, nil, nil
		h.env.ExecuteWorkflow(Pipeline, input(spec))
		st, err := h.result(t)
		if err != nil || st.State != StateSucceeded {
			t.Fatalf("run %s: %v", st.State, err)
		}
		if got := len(only(h.Calls(), "Run:build")); got != int(lost)+1 {
			t.Errorf("build ran %d times, want %d", got, lost+1)
		}
	})
	t.Run("gives up", func(t *testing.T) {
		h := newHarness(t)
		h.lostWorkers[pipelines.PhaseBuild] = 1000
		spec := fullSpec(t)
		spec.Bake, spec.Deploy, spec.Integration, spec.Promote, spec.Approval, spec.Production = nil, nil, nil, nil, nil, nil
		h.env.ExecuteWorkflow(Pipeline, input(spec))
		st, err := h.result(t)
		if err == nil || st.State != StateFailed {
			t.Fatalf("run %s: %v", st.State, err)
		}
		if got, want := len(only(h.Calls(), "Run:build")), maxWorkerLossRounds*int(defaultRetry.MaximumAttempts); got != want {
			t.Errorf("build ran %d times, want %d", got, want)
		}
	})
}

// TestPlatformActivitiesAreHeartbeatBounded: every activity that changes
// the platform, compensations included, runs with a heartbeat timeout of
// at most PlatformHeartbeatTimeout, so a worker lost in one costs the run
// that long rather than the activity's whole timeout.
func TestPlatformActivitiesAreHeartbeatBounded(t *testing.T) {
	h := newHarness(t)
	h.failAt = pipelines.PhaseProduction // every undo runs
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	var mu sync.Mutex
	seen := map[string]time.Duration{}
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		mu.Lock()
		defer mu.Unlock()
		seen[info.ActivityType.Name] = info.HeartbeatTimeout
	})
	h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
	if _, err := h.result(t); err == nil {
		t.Fatal("the run did not fail at production")
	}
	for _, name := range []string{contract.Bake.Name, contract.Deploy.Name, contract.Integration.Name, contract.MarkAvailable.Name,
		contract.Production.Name, contract.UndoRelease.Name, contract.RemoveTag.Name, contract.DeleteEnvironment.Name} {
		hb, ok := seen[name]
		if !ok {
			t.Errorf("%s did not run", name)
		} else if hb <= 0 || hb > PlatformHeartbeatTimeout {
			t.Errorf("%s: heartbeat timeout %s, want at most %s", name, hb, PlatformHeartbeatTimeout)
		}
	}
}
