package worker

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/contract/bind"
	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/webhooks"
	"github.com/sluice-cd/sluice/workflows"
)

// -record regenerates workflows/testdata/*.json from runs on the embedded
// server. Do it only for a deliberate, versioned change of the workflow:
// the committed histories are what guards replay compatibility.
var (
	record     = flag.Bool("record", false, "record replay histories into ../workflows/testdata")
	recordOnly = flag.String("record-only", "", "with -record, only the scenario of this name")
)

// stubActivities registers activity functions under the real activity names,
// with scripted outcomes, so a scenario's history can be produced quickly.
// recordKey signs the decisions of recorded runs (a fixed seed: recordings
// differ only where the behaviour does).
var recordKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// lostBuilds is how many more build attempts the stub fails as if their
// worker had died (a heartbeat timeout).
var lostBuilds atomic.Int32

// slowTest is how long the stub's test phase takes (nanoseconds).
var slowTest atomic.Int64

func stubActivities(w sdkworker.Registry, failPhase string, send func(context.Context, contract.Notice) (contract.MessageRef, error), recs *records.Store) {
	fail := func(phase string) error {
		if phase == failPhase {
			return temporal.NewNonRetryableApplicationError(phase+" failed", contract.ErrStepFailed, nil)
		}
		return nil
	}
	bind.Activity(w, contract.StartScheduled, func(ctx context.Context, in contract.ScheduledRun) (contract.DispatchResult, error) {
		return contract.DispatchResult{WorkflowID: "pipeline/" + in.Repo + ":" + in.Branch, RunID: "r", Action: "started"}, nil
	})
	bind.Activity(w, contract.RunSteps, func(ctx context.Context, in contract.StepsInput) (contract.StepsResult, error) {
		if in.Phase == pipelines.PhaseBuild && lostBuilds.Add(-1) >= 0 {
			return contract.StepsResult{}, temporal.NewHeartbeatTimeoutError()
		}
		if in.Phase == pipelines.PhaseTest {
			time.Sleep(time.Duration(slowTest.Load()))
		}
		ws := contract.Workspace{Kind: contract.WorkspaceLocal, Path: "/ws/" + in.RunID}
		if in.Pool != "" {
			ws = contract.Workspace{Kind: contract.WorkspacePod, Pool: in.Pool, Namespace: "sluice-builds", Pod: "sluice-go-abcde", Claim: in.RunID, Path: "/workspace"}
		}
		return contract.StepsResult{Workspace: ws, Summary: "ok"}, fail(in.Phase)
	})
	bind.Activity(w, contract.Bake, func(ctx context.Context, in contract.BakeInput) (contract.BakeResult, error) {
		return contract.BakeResult{Image: "127.0.0.1:5000/acme/hello:abc", Digest: "sha256:0123"}, fail(pipelines.PhaseBake)
	})
	bind.Activity(w, contract.Deploy, func(ctx context.Context, in contract.DeployInput) (contract.DeployResult, error) {
		return contract.DeployResult{Namespace: in.Namespace}, fail(pipelines.PhaseDeploy)
	})
	bind.Activity(w, contract.Integration, func(ctx context.Context, in contract.IntegrationInput) (contract.IntegrationResult, error) {
		return contract.IntegrationResult{Summary: "ok"}, fail(pipelines.PhaseIntegration)
	})
	bind.Activity(w, contract.MarkAvailable, func(ctx context.Context, in contract.PromoteInput) (contract.PromoteResult, error) {
		return contract.PromoteResult{Tag: in.Tag}, fail(pipelines.PhasePromote)
	})
	bind.Activity(w, contract.Production, func(ctx context.Context, in contract.ProductionInput) (contract.ProductionResult, error) {
		if in.Strategy == pipelines.BlueGreen {
			return contract.ProductionResult{Revision: "2", Previous: 1, Color: "green"}, fail(pipelines.PhaseProduction)
		}
		if in.Strategy == pipelines.Canary {
			return contract.ProductionResult{Revision: "2", Previous: 1, Canary: true}, fail(pipelines.PhaseProduction)
		}
		return contract.ProductionResult{Revision: "1"}, fail(pipelines.PhaseProduction)
	})
	bind.Undo(w, contract.UndoRelease, func(ctx context.Context, in contract.ReleaseRef) error { return nil })
	bind.Activity(w, contract.SetCanaryWeight, func(ctx context.Context, in contract.CanaryInput) (contract.Nothing, error) {
		return contract.Nothing{}, nil
	})
	bind.Activity(w, contract.PromoteCanary, func(ctx context.Context, in contract.ReleaseRef) (contract.Nothing, error) {
		return contract.Nothing{}, nil
	})
	bind.Activity(w, contract.Analyze, func(ctx context.Context, in contract.AnalysisInput) (contract.AnalysisResult, error) {
		if in.Check {
			return contract.AnalysisResult{}, nil
		}
		n := 0.0
		return contract.AnalysisResult{Verdict: contract.AnalysisInconclusive, Reason: "error-rate was inconclusive 1 of 1 times", Taken: 1,
			Measurements: []contract.Measurement{{At: time.Now().UTC(), Metric: "error-rate", Samples: &n, Outcome: contract.AnalysisInconclusive, Reason: "fewer samples than 20"}}}, nil
	})
	bind.Activity(w, contract.RollbackRelease, func(ctx context.Context, in contract.RollbackInput) (contract.RollbackResult, error) {
		return contract.RollbackResult{Version: 3, RollbackOf: 1, Commit: strings.Repeat("a", 40), Digest: "sha256:" + strings.Repeat("1", 64)}, nil
	})
	bind.Activity(w, contract.SizePool, func(ctx context.Context, in contract.PoolSizeInput) (contract.PoolSizeResult, error) {
		return contract.PoolSizeResult{MinIdle: in.MinIdle}, nil
	})
	bind.Activity(w, contract.RetireRelease, func(ctx context.Context, in contract.ReleaseRef) (contract.Nothing, error) {
		return contract.Nothing{}, nil
	})
	bind.Undo(w, contract.ReleaseWorkspace, func(ctx context.Context, in contract.WorkspaceRef) error { return nil })
	bind.Undo(w, contract.DeleteEnvironment, func(ctx context.Context, in contract.EnvironmentRef) error { return nil })
	bind.Undo(w, contract.RemoveTag, func(ctx context.Context, in contract.TagRef) error { return nil })
	bind.Activity(w, contract.SetCommitStatus, func(ctx context.Context, in contract.StatusInput) (contract.Nothing, error) {
		return contract.Nothing{}, nil
	})
	if send == nil {
		send = func(context.Context, contract.Notice) (contract.MessageRef, error) {
			return contract.MessageRef{}, nil
		}
	}
	bind.Activity(w, contract.SendNotice, send)
	bind.Activity(w, contract.ChaosObserve, func(ctx context.Context, in contract.ObserveInput) (contract.Observation, error) {
		// the probe runs as long as it is asked to: the workflow's timers
		// and the alert signals happen while it does
		select {
		case <-time.After(time.Until(in.Until)):
		case <-ctx.Done():
			return contract.Observation{}, ctx.Err()
		}
		return contract.Observation{Requests: 100, Resolution: 50 * time.Millisecond, P50: time.Millisecond, P99: 2 * time.Millisecond}, nil
	})
	bind.Activity(w, contract.LoadExperiments, func(ctx context.Context, in contract.ExperimentsInput) ([]contract.Experiment, error) {
		e := chaosExperiment()
		e.Namespace = in.Namespace
		return []contract.Experiment{e}, nil
	})
	bind.Activity(w, contract.InjectFault, func(ctx context.Context, in contract.FaultInput) (contract.FaultResult, error) {
		return contract.FaultResult{Summary: "deleted 1 of 2 pods: hello-1"}, nil
	})
	bind.Undo(w, contract.RemoveFault, func(ctx context.Context, in contract.FaultInput) error { return nil })
	bind.Activity(w, contract.RecordRun, func(ctx context.Context, in contract.RunRecord) (contract.Nothing, error) {
		start := time.Now()
		defer func() { recordNanos.Add(int64(time.Since(start))) }()
		return (&activities.Records{Store: recs}).Record(ctx, in)
	})
	bind.Activity(w, contract.GetApprovalPolicy, func(ctx context.Context, _ contract.Nothing) (contract.ApprovalPolicy, error) {
		return contract.ApprovalPolicy{Groups: map[string][]string{"leads": {"dave"}}, Key: recordKey.Public().(ed25519.PublicKey)}, nil
	})
}

// recordNanos is the time the stub workers spent writing run records.
var recordNanos atomic.Int64

// testRecords is a records database (SQLite) for a test's worker.
func testRecords(tb testing.TB) *records.Store {
	tb.Helper()
	s, err := records.Open(context.Background(), filepath.Join(tb.TempDir(), "records.db"), "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// chaosExperiment is a short experiment that expects an alert.
func chaosExperiment() contract.Experiment {
	return contract.Experiment{
		Name: "pod-kill", Namespace: "hello", Service: "hello", Path: "/healthz", Rate: 20, ProbeTimeout: time.Second,
		SteadyState: time.Second, Recovery: time.Second,
		SLO:    contract.SLO{MaxErrorWindow: time.Second},
		Faults: []contract.Fault{{Kind: contract.FaultPodKill, Count: 1, Duration: 2 * time.Second}},
		Alerts: contract.Alerts{Expect: []contract.ExpectedAlert{{Name: "HelloInstanceDown", Receiver: "oncall", Within: 10 * time.Second}}},
	}
}

// chaosSpec runs the experiment in the pipeline's chaos phase.
const chaosSpec = `version: 1
build: {commands: [make]}
bake: {image: 127.0.0.1:5000/acme/hello}
deploy: {manifests: k8s}
integration: {image: 127.0.0.1:5000/acme/it, commands: [./it]}
chaos: {experiments: [chaos/pod-kill.yml]}
`

// sendAlert signals the notification the experiment expects to every
// running Chaos workflow, as POST /hooks/alertmanager does.
func sendAlert(t *testing.T, c client.Client) {
	t.Helper()
	poll.Until(t, "an experiment to run", func() bool {
		n, err := (&runs.Client{Temporal: c}).DeliverAlert(context.Background(), webhooks.AlertNotification{
			Receiver: "oncall", Status: "firing", GroupKey: `{}:{alertname="HelloInstanceDown"}`, Version: "4",
			Alerts: []webhooks.Alert{{Status: "firing", Labels: map[string]string{"alertname": "HelloInstanceDown"}}},
		}.Signal())
		return err == nil && n > 0
	})
}

func scenarioSpec(t testing.TB, src string) pipelines.Spec {
	t.Helper()
	s, err := pipelines.Parse(".sluice.yml", []byte(src), "hello")
	if err != nil {
		t.Fatal(err)
	}
	return *s
}

const approvalSpec = `version: 1
build: {commands: [make]}
test: {commands: [make test]}
approval:
  approvers: {users: [alice, bob]}
  timeout: 3s
  reminder: 1s
  max-reminders: 1
`

// jobsSpec's test is jobs: lint and a matrix of two side by side, race
// after the matrix; each cell its own RunSteps.
const jobsSpec = `version: 1
build: {commands: [make], pool: go}
test:
  jobs:
    lint: {commands: [make lint]}
    unit: {commands: [make test], matrix: {axes: {go: ["1.25", "1.26"]}}}
    race: {commands: [make race], needs: [unit]}
bake: {image: 127.0.0.1:5000/acme/hello}
`

// poolSpec builds and tests in a pool pod.
const poolSpec = `version: 1
build: {commands: [make], pool: go}
test: {commands: [make test]}
approval:
  approvers: {users: [alice, bob]}
  timeout: 3s
  reminder: 1s
  max-reminders: 1
`

const fullSpec = `version: 1
environments: {production: {namespace: hello}}
build: {commands: [make]}
bake: {image: 127.0.0.1:5000/acme/hello}
deploy: {manifests: k8s}
integration: {image: 127.0.0.1:5000/acme/it, commands: [./it]}
promote: {}
production: {manifests: k8s}
`

// blueGreenSpec releases blue-green with a short grace period.
const blueGreenSpec = `version: 1
environments: {production: {namespace: hello, strategy: blue-green}}
build: {commands: [make]}
bake: {image: 127.0.0.1:5000/acme/hello}
deploy: {manifests: k8s}
integration: {image: 127.0.0.1:5000/acme/it, commands: [./it]}
promote: {}
production: {manifests: k8s, grace: 1s, verify: {commands: [./smoke]}}
`

// analysisSpec's release is judged by an analysis that finds no data:
// the approvers decide again.
const analysisSpec = `version: 1
environments: {production: {namespace: hello, strategy: blue-green}}
build: {commands: [make]}
bake: {image: 127.0.0.1:5000/acme/hello}
approval: {approvers: {users: [alice, bob]}, timeout: 1m, reminder: 30s}
production:
  manifests: k8s
  grace: 1s
  analysis:
    metrics: [{name: error-rate, query: 'sum(rate(x[1m]))', success: "< 0.05", samples: 'sum(increase(x[1m]))', min-samples: 20}]
`

// canarySpec's release is a canary: judged at 25 % (no data: the
// approvers decide), held at 50 %, then promoted.
const canarySpec = `version: 1
environments: {production: {namespace: hello, strategy: canary}}
build: {commands: [make]}
bake: {image: 127.0.0.1:5000/acme/hello}
approval: {approvers: {users: [alice, bob]}, timeout: 1m, reminder: 30s}
production:
  manifests: k8s
  canary: {steps: [{weight: 25, analysis: true}, {weight: 50, pause: 1s}]}
  analysis:
    metrics: [{name: error-rate, query: 'sum(rate(x[1m]))', success: "< 0.05"}]
`

func push(commit string) workflows.Push {
	return workflows.Push{Repo: "acme/hello", CloneURL: "/repos/hello", Branch: "main",
		Commit: strings.Repeat(commit, 40), Author: "carol@example.com", DeliveryID: "d-" + commit}
}

func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("pass -record to regenerate the replay histories")
	}
	scenarios := []struct {
		name, spec, fail string
		drive            func(t *testing.T, c client.Client, rc *runs.Client, ref runs.Ref)
	}{
		{"success_commit_status", approvalSpec, "", approveAlice},    // commit-status version 1
		{"success_commit_status_v2", approvalSpec, "", approveAlice}, // commit-status version 2
		{"success", approvalSpec, "", approveAfterRefusal},
		{"failure_compensation", fullSpec, pipelines.PhaseProduction, nil},
		// typed contracts, structured workspaces, commit-status v3 and
		// approval-identity v1
		{"success_v3", approvalSpec, "", approveAfterRefusal},
		{"failure_compensation_v3", fullSpec, pipelines.PhaseProduction, nil},
		// approval-policy v1: groups and decision key from the worker; the
		// refused mallory is signed too, alice's approval is signed
		{"success_v4", approvalSpec, "", approveAfterRefusal},
		// pod-release-after-test v1: the build pod goes back before approval
		{"success_pool", poolSpec, "", approveAlice},
		// release v1: UndoRelease on the stack; blue-green grace, then
		// RetireRelease
		{"release_blue_green", blueGreenSpec, "", nil},
		{"failure_release", fullSpec, pipelines.PhaseProduction, nil},
		// available-status v1: promote sets the sluice/available status
		{"success_available", blueGreenSpec, "", nil},
		// commit-status v4: build's status at once, test's after its
		// gate timer fired, none for the later phases (timers cancelled);
		// concurrent-tail v1: the approval's notice beside production, the
		// cleanup, last notice and final status at once
		{"success_v5", eightPhases, "", approveAlice},
		// epoch 1: one version marker implies the changes above
		{"success_v6", eightPhases, "", approveAlice},
		{"success_pool_v6", poolSpec, "", approveAlice},
		// epoch 2: a later phase's "running" status asked of the worker
		// that runs it (no gate timer), the approval policy read by a
		// local activity
		{"success_v7", eightPhases, "", approveAlice},
		{"success_pool_v7", poolSpec, "", approveAlice},
		// epoch 3: the first phase's "running" status asked of the worker
		// that runs it too (no status activity beside build)
		{"success_v8", eightPhases, "", approveAlice},
		{"success_pool_v8", poolSpec, "", approveAlice},
		// epoch 4: the test namespace ends in the run id's random tail
		{"success_v9", eightPhases, "", approveAlice},
		// epoch 5: the run's record written as it starts and as it ends
		// (local activities), the refusal and the approval in the last
		{"success_v10", eightPhases, "", approveAfterRefusal},
		// rerun-after-worker-loss v1: every attempt of build lost its
		// worker; the phase ran again and the run went on
		{"worker_loss_rerun", fullSpec, "", nil},
		// test's jobs: four cells, three at once, race after unit
		{"jobs", jobsSpec, "", nil},
		{"approval_timeout", approvalSpec, "", nil},
		{"rejection", approvalSpec, "", func(t *testing.T, c client.Client, rc *runs.Client, ref runs.Ref) {
			waitApproval(t, rc, ref)
			if _, err := rc.Decide(context.Background(), ref, "", false, workflows.Decision{User: "bob", Comment: "not today"}); err != nil {
				t.Fatal(err)
			}
		}},
		// the chaos phase: a Chaos child workflow that receives the alert
		// it expects
		{"chaos_phase", chaosSpec, "", func(t *testing.T, c client.Client, rc *runs.Client, ref runs.Ref) { sendAlert(t, c) }},
		// analysis v1: the queries tried, the release, its analysis
		// inconclusive, the approvers asked again (alice, then bob)
		{"analysis_inconclusive", analysisSpec, "", approveTwice},
		// canary v1: the canary's steps, then its promotion
		{"canary", canarySpec, "", approveTwice},
		{"supersede", approvalSpec, "", func(t *testing.T, c client.Client, rc *runs.Client, ref runs.Ref) {
			waitApproval(t, rc, ref)
			next := workflows.Request{Push: push("b"), Spec: scenarioSpec(t, approvalSpec)}
			if err := c.SignalWorkflow(context.Background(), ref.WorkflowID, ref.RunID, workflows.SignalPush, next); err != nil {
				t.Fatal(err)
			}
		}},
	}
	// more build attempts lost than one activity's attempt budget
	lostInScenario := map[string]int32{"worker_loss_rerun": 6}
	// a test phase past the commit status gate (eightPhases' test)
	slowInScenario := map[string]time.Duration{"success_v5": 1500 * time.Millisecond, "success_v6": 1500 * time.Millisecond, "success_v7": 1500 * time.Millisecond, "success_v8": 1500 * time.Millisecond, "success_v9": 1500 * time.Millisecond, "success_v10": 1500 * time.Millisecond}
	for _, sc := range scenarios {
		if *recordOnly != "" && sc.name != *recordOnly {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			lostBuilds.Store(lostInScenario[sc.name])
			slowTest.Store(int64(slowInScenario[sc.name]))
			c := devservertest.Start(t)
			w := sdkworker.New(c, workflows.TaskQueue, Options())
			w.RegisterWorkflow(workflows.Pipeline)
			w.RegisterWorkflow(workflows.Chaos)
			stubActivities(w, sc.fail, nil, testRecords(t))
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			rc := &runs.Client{Temporal: c, Signer: recordKey}
			started, err := rc.Start(context.Background(), workflows.Request{Push: push("a"), Spec: scenarioSpec(t, sc.spec)})
			if err != nil {
				t.Fatal(err)
			}
			if sc.drive != nil {
				sc.drive(t, c, rc, started.Ref)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_ = c.GetWorkflow(ctx, started.Ref.WorkflowID, started.Ref.RunID).GetWithOptions(ctx, nil, client.WorkflowRunGetOptions{DisableFollowingRuns: true})
			writeHistory(t, c, started.Ref, filepath.Join("..", "workflows", "testdata", sc.name+".json"))
		})
	}
}

// TestRecordChaosHistory records a Chaos workflow run on its own (as
// `sluice chaos run` starts it) that receives its expected alert.
// chaos_record: the same experiment, which writes its verdict to the
// records as it ends (change "chaos-record").
func TestRecordChaosHistory(t *testing.T) {
	for _, scenario := range []string{"chaos_experiment", "chaos_record"} {
		t.Run(scenario, func(t *testing.T) { recordChaos(t, scenario) })
	}
}

func recordChaos(t *testing.T, scenario string) {
	c := recording(t, scenario, workflows.Chaos)
	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "chaos/pod-kill/record", TaskQueue: workflows.TaskQueue},
		workflows.Chaos, workflows.ChaosInput{Experiment: chaosExperiment()})
	if err != nil {
		t.Fatal(err)
	}
	sendAlert(t, c)
	var st workflows.ChaosState
	if err := run.Get(context.Background(), &st); err != nil || st.State != workflows.ChaosPassed {
		t.Fatalf("experiment %s: %v %v", st.State, err, st.Failures)
	}
	writeHistory(t, c, runs.Ref{WorkflowID: run.GetID(), RunID: run.GetRunID()}, filepath.Join("..", "workflows", "testdata", scenario+".json"))
}

// TestRecordRollbackHistory records a Rollback run as the server starts it
// for `sluice rollback`.
func TestRecordRollbackHistory(t *testing.T) {
	c := recording(t, "rollback", workflows.Rollback)
	rc := &runs.Client{Temporal: c}
	ref, err := rc.StartRollback(context.Background(), workflows.RollbackInput{
		Pipeline: "hello", Namespace: "hello-prod", By: "rita (API token rita-laptop)", Reason: "v2 misbehaves", Project: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := rc.RollbackResult(context.Background(), ref); err != nil || res.Version != 3 {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	writeHistory(t, c, ref, filepath.Join("..", "workflows", "testdata", "rollback.json"))
}

// TestRecordRollbackApprovalHistory records a Rollback run under
// production's approval rule: the requester's own approval refused,
// another approver's approval, then the release.
// rollback_record: the same run, which writes its record as it ends
// (change "rollback-record").
func TestRecordRollbackApprovalHistory(t *testing.T) {
	for _, scenario := range []string{"rollback_approval", "rollback_record"} {
		t.Run(scenario, func(t *testing.T) { recordApprovedRollback(t, scenario) })
	}
}

func recordApprovedRollback(t *testing.T, scenario string) {
	c := recording(t, scenario, workflows.Rollback)
	rc := &runs.Client{Temporal: c, Signer: recordKey}
	ctx := context.Background()
	ref, err := rc.StartRollback(ctx, workflows.RollbackInput{
		Pipeline: "hello", Namespace: "hello-prod", By: "rita (API token rita-laptop)", Requester: "rita", Reason: "v2 misbehaves", Project: "payments",
		Approval: &contract.RollbackApproval{Approvers: []string{"alice", "rita"}, Required: 1, Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the rollback to wait for its approval", func() bool {
		st, err := rc.RollbackState(ctx, ref)
		return err == nil && st.Status == workflows.RollbackAwaitingApproval
	})
	if _, err := rc.Decide(ctx, ref, "", true, workflows.Decision{User: "rita"}); !errors.Is(err, runs.ErrRefused) {
		t.Fatalf("rita's own approval: %v", err)
	}
	if _, err := rc.Decide(ctx, ref, "", true, workflows.Decision{User: "alice"}); err != nil {
		t.Fatal(err)
	}
	if res, err := rc.RollbackResult(ctx, ref); err != nil || res.Version != 3 {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	writeHistory(t, c, ref, filepath.Join("..", "workflows", "testdata", scenario+".json"))
}

// TestRecordPoolSizeHistory records a PoolSize run as the server starts
// it for `sluice pool resize`.
func TestRecordPoolSizeHistory(t *testing.T) {
	c := recording(t, "pool_size", workflows.PoolSize)
	rc := &runs.Client{Temporal: c}
	ref, res, err := rc.SizePool(context.Background(), workflows.PoolSizeInput{Pool: "default", MinIdle: 3, By: "ada (API token ada-laptop)"})
	if err != nil || res.MinIdle != 3 {
		t.Fatalf("pool size: %+v %v", res, err)
	}
	writeHistory(t, c, ref, filepath.Join("..", "workflows", "testdata", "pool_size.json"))
}

// TestRecordFreezeHistory records a run whose production meets a deny
// window of its project's freeze (change "freeze"): the timer until the
// window ends, then the release.
func TestRecordFreezeHistory(t *testing.T) {
	c := recording(t, "freeze_wait", workflows.Pipeline)
	rc := &runs.Client{Temporal: c, Signer: recordKey}
	now := time.Now().UTC()
	policy := &contract.Governance{Project: "payments", Freeze: &contract.Freeze{Deny: []contract.Window{{Name: "release-freeze", From: now.Add(-time.Hour), Until: now.Add(5 * time.Second)}}}}
	started, err := rc.Start(context.Background(), workflows.Request{Push: push("a"), Spec: scenarioSpec(t, fullSpec), Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var st workflows.RunState
	if err := c.GetWorkflow(ctx, started.Ref.WorkflowID, started.Ref.RunID).Get(ctx, &st); err != nil || st.State != workflows.StateSucceeded {
		t.Fatalf("run: %s %v", st.State, err)
	}
	writeHistory(t, c, started.Ref, filepath.Join("..", "workflows", "testdata", "freeze_wait.json"))
}

// TestRecordScheduledHistory records a Scheduled run as a schedule starts
// it: its one activity builds and starts the branch's run.
func TestRecordScheduledHistory(t *testing.T) {
	c := recording(t, "scheduled", workflows.Scheduled)
	in := contract.ScheduledRun{Name: "nightly", Repo: "acme/hello", CloneURL: "/srv/git/hello", Branch: "main", Inputs: map[string]string{"target": "qa"}, By: "dave"}
	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.ScheduledWorkflowID("nightly") + "-2026-12-07T03:00:00Z", TaskQueue: workflows.TaskQueue}, workflows.Scheduled, in)
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.DispatchResult
	if err := run.Get(context.Background(), &res); err != nil || res.Action != "started" {
		t.Fatalf("scheduled: %+v %v", res, err)
	}
	writeHistory(t, c, runs.Ref{WorkflowID: run.GetID(), RunID: run.GetRunID()}, filepath.Join("..", "workflows", "testdata", "scheduled.json"))
}

// recording starts the embedded Temporal and a worker of workflow wf with
// the stub activities, or skips unless -record asks for scenario.
func recording(t *testing.T, scenario string, wf any) client.Client {
	t.Helper()
	if !*record || (*recordOnly != "" && *recordOnly != scenario) {
		t.Skip("pass -record to regenerate the replay histories")
	}
	c := devservertest.Start(t)
	w := sdkworker.New(c, workflows.TaskQueue, sdkworker.Options{})
	w.RegisterWorkflow(wf)
	stubActivities(w, "", nil, testRecords(t))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return c
}

// approveTwice has alice approve, then bob decide the gate an
// inconclusive analysis opens.
func approveTwice(t *testing.T, c client.Client, rc *runs.Client, ref runs.Ref) {
	approveAlice(t, c, rc, ref)
	poll.Until(t, "the inconclusive analysis's gate", func() bool {
		_, st, err := rc.Status(context.Background(), ref)
		return err == nil && st.State == workflows.StateAwaitingApproval && st.Approval != nil && st.Approval.For != ""
	})
	if _, err := rc.Decide(context.Background(), ref, "", true, workflows.Decision{User: "bob"}); err != nil {
		t.Fatal(err)
	}
}

func approveAlice(t *testing.T, c client.Client, rc *runs.Client, ref runs.Ref) {
	waitApproval(t, rc, ref)
	if _, err := rc.Decide(context.Background(), ref, "", true, workflows.Decision{User: "alice"}); err != nil {
		t.Fatal(err)
	}
}

// approveAfterRefusal has mallory refused, then alice approve.
func approveAfterRefusal(t *testing.T, c client.Client, rc *runs.Client, ref runs.Ref) {
	waitApproval(t, rc, ref)
	if _, err := rc.Decide(context.Background(), ref, "", true, workflows.Decision{User: "mallory"}); !errors.Is(err, runs.ErrRefused) {
		t.Fatalf("mallory: %v", err)
	}
	if _, err := rc.Decide(context.Background(), ref, "", true, workflows.Decision{User: "alice"}); err != nil {
		t.Fatal(err)
	}
}

func waitApproval(t *testing.T, rc *runs.Client, ref runs.Ref) {
	t.Helper()
	poll.Until(t, "the run to reach approval", func() bool {
		_, st, err := rc.Status(context.Background(), ref)
		return err == nil && st.State == workflows.StateAwaitingApproval
	})
}

func writeHistory(t *testing.T, c client.Client, ref runs.Ref, path string) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), ref.WorkflowID, ref.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h history.History
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var check map[string]any
	if err := json.Unmarshal(b, &check); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d events)", path, len(h.Events))
}

// TestRecordQuotaHistories records two runs of a project limited to one
// run at once (epoch 6): quota_wait is the second, which waits (told its
// place) until the first gives its slot back, then runs; quota_semaphore
// is the project's Quota workflow up to then: two asks, two grants, a
// release.
func TestRecordQuotaHistories(t *testing.T) {
	if !*record || (*recordOnly != "" && *recordOnly != "quota_wait") {
		t.Skip("pass -record to regenerate the replay histories")
	}
	c, rc := quotaWorker(t, 0)
	ctx := context.Background()
	policy := &contract.Governance{Project: "payments", Quota: &contract.Quota{Runs: 1}}
	first, err := rc.Start(ctx, workflows.Request{Push: push("a"), Spec: scenarioSpec(t, approvalSpec), Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	waitApproval(t, rc, first.Ref)
	second := push("b")
	second.Branch = "feature"
	next, err := rc.Start(ctx, workflows.Request{Push: second, Spec: scenarioSpec(t, approvalSpec), Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, st, err := rc.Status(ctx, next.Ref)
		if err == nil && strings.HasPrefix(st.Queued, "queued: 1st of project payments") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	approveAlice(t, c, rc, first.Ref)
	approveAlice(t, c, rc, next.Ref)
	for _, ref := range []runs.Ref{first.Ref, next.Ref} {
		if err := c.GetWorkflow(ctx, ref.WorkflowID, ref.RunID).Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	writeHistory(t, c, next.Ref, filepath.Join("..", "workflows", "testdata", "quota_wait.json"))
	// the semaphore's history so far: it has handled the second run's
	// release once its state says so
	for {
		st, err := rc.QuotaState(ctx, "payments")
		if err == nil && st.Granted == 2 && len(st.Holders) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	writeHistory(t, c, runs.Ref{WorkflowID: workflows.QuotaWorkflowID("payments")}, filepath.Join("..", "workflows", "testdata", "quota_semaphore.json"))
}

// TestRecordTestEnvironmentWait records test_environment_wait: a run of a
// project with one test environment builds and bakes, waits at deploy
// (told its place) while another run holds the environment, deploys once
// that run ends, and gives the slot back as it ends (change
// "test-environment-quota").
func TestRecordTestEnvironmentWait(t *testing.T) {
	if !*record || (*recordOnly != "" && *recordOnly != "test_environment_wait") {
		t.Skip("pass -record to regenerate the replay histories")
	}
	c, rc := quotaWorker(t, 0)
	ctx := context.Background()
	spec := scenarioSpec(t, deploySpec)
	policy := &contract.Governance{Project: "payments", Quota: &contract.Quota{TestEnvironments: 1}}
	first, err := rc.Start(ctx, workflows.Request{Push: push("a"), Spec: spec, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	waitApproval(t, rc, first.Ref)
	second := push("b")
	second.Branch = "feature"
	next, err := rc.Start(ctx, workflows.Request{Push: second, Spec: spec, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the second run to wait for a test environment", func() bool {
		_, st, err := rc.Status(ctx, next.Ref)
		return err == nil && strings.HasPrefix(st.Queued, "queued: 1st of test environments of project payments")
	})
	approveAlice(t, c, rc, first.Ref)
	waitApproval(t, rc, next.Ref)
	approveAlice(t, c, rc, next.Ref)
	for _, ref := range []runs.Ref{first.Ref, next.Ref} {
		if err := c.GetWorkflow(ctx, ref.WorkflowID, ref.RunID).Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	writeHistory(t, c, next.Ref, filepath.Join("..", "workflows", "testdata", "test_environment_wait.json"))
}

// deploySpec deploys to a test environment before its approval.
const deploySpec = `version: 1
build: {commands: [make]}
bake: {image: 127.0.0.1:5000/acme/hello}
deploy: {manifests: deploy}
approval:
  approvers: {users: [alice, bob]}
  timeout: 1h
  reminder: 30m
`
