package workflows

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// TestReplayCommittedHistories replays every history in testdata against the
// current Pipeline code. A failure means the change is not replay-safe: put
// it behind workflow.GetVersion instead of re-recording the histories.
func TestReplayCommittedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	// Each scenario must be present and show what it is named for.
	want := map[string][]string{
		"success.json":                  {"WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"},
		"success_commit_status.json":    {`"markerName": "Version"`, "SetStatus", "WORKFLOW_EXECUTION_COMPLETED"},
		"success_commit_status_v2.json": {`"markerName": "Version"`, "SetStatus", "WORKFLOW_EXECUTION_COMPLETED"},
		"failure_compensation.json":     {`"DeleteEnvironment"`, `"RemoveTag"`, "WORKFLOW_EXECUTION_FAILED"},
		"approval_timeout.json":         {"TIMER_FIRED", "ApprovalTimedOut", "WORKFLOW_EXECUTION_FAILED"},
		"rejection.json":                {"not today", "WORKFLOW_EXECUTION_FAILED"},
		"supersede.json":                {"WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"},
		// payloads are base64: the marker of change "approval-identity", and
		// a result starting {"workspace":{"kind":"local"
		"success_v3.json":              {"ImFwcHJvdmFsLWlkZW50aXR5Ig==", "eyJ3b3Jrc3BhY2UiOnsia2luZCI6ImxvY2FsI", "WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"},
		"failure_compensation_v3.json": {`"DeleteEnvironment"`, `"RemoveTag"`, "WORKFLOW_EXECUTION_FAILED"},
		// the marker of change "approval-policy" and its activity
		"success_pool.json": {"InBvZC1yZWxlYXNlLWFmdGVyLXRlc3Qi", `"Cleanup"`, "WORKFLOW_EXECUTION_COMPLETED"},
		"success_v4.json":   {"ImFwcHJvdmFsLXBvbGljeSI=", `"ApprovalPolicy"`, "WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"},
		// the marker of change "release": the grace timer, then the retire;
		// a failed release undone
		"release_blue_green.json": {"InJlbGVhc2Ui", "TIMER_FIRED", `"RetireRelease"`, "WORKFLOW_EXECUTION_COMPLETED"},
		"failure_release.json":    {"InJlbGVhc2Ui", `"UndoRelease"`, "WORKFLOW_EXECUTION_FAILED"},
		// the marker of change "available-status", then the release
		"success_available.json": {"ImF2YWlsYWJsZS1zdGF0dXMi", `"RetireRelease"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// the marker of change "rerun-after-worker-loss" after build's
		// attempts timed out on heartbeats, then the rest of the run
		// the chaos phase's child experiment, and an experiment started on
		// its own that received its expected alert
		"chaos_phase.json":      {"START_CHILD_WORKFLOW_EXECUTION_INITIATED", `"LoadExperiments"`, "CHILD_WORKFLOW_EXECUTION_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"},
		"chaos_experiment.json": {"WORKFLOW_EXECUTION_SIGNALED", `"InjectFault"`, `"RemoveFault"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// the same, its verdict written to the records as it ends (change
		// "chaos-record": its marker, then the local activity)
		"chaos_record.json": {"ImNoYW9zLXJlY29yZCI=", `"RemoveFault"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// commit-status v4: test's status after its gate timer fired, the
		// other phases' timers cancelled; concurrent-tail (batches below)
		"success_v5.json": {"EVENT_TYPE_TIMER_FIRED", "EVENT_TYPE_TIMER_CANCELED", "ImNvbmN1cnJlbnQtdGFpbCI=", "WORKFLOW_EXECUTION_COMPLETED"},
		// epoch 1: the run's only version marker, then the changes it
		// implies: the same activities in the same batches as the run
		// recorded with a marker per change (sameRunAs)
		"success_v6.json":      {"ImVwb2NoIg==", "EVENT_TYPE_TIMER_FIRED", "WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"},
		"success_pool_v6.json": {"ImVwb2NoIg==", `"Cleanup"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// epoch 2: the approval policy read by a local activity (its
		// marker); the timers and statuses below
		"success_v7.json":      {"ImVwb2NoIg==", `"markerName": "LocalActivity"`, "WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"},
		"success_pool_v7.json": {"ImVwb2NoIg==", `"markerName": "LocalActivity"`, `"Cleanup"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// epoch 3: the same, with the first phase's status asked of its
		// worker (statusesScheduled)
		"success_v8.json":      {"ImVwb2NoIg==", `"markerName": "LocalActivity"`, "WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"},
		"success_pool_v8.json": {"ImVwb2NoIg==", `"markerName": "LocalActivity"`, `"Cleanup"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// epoch 4: the test namespace from the run id's tail
		// (TestReplayedRunsKeepTheirTestNamespace)
		"success_v9.json": {"ImVwb2NoIg==", `"Deploy"`, "WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"},
		// epoch 5: the run's records written by local activities (the
		// markers' activity type "RecordRun"), the last after the update
		"success_v10.json": {"ImVwb2NoIg==", `"markerName": "LocalActivity"`, "WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"},
		// epoch 6: a run of a project limited to one run at once asks for a
		// slot, is told its place, waits for the grant (signals), runs and
		// gives the slot back (a signal to the semaphore); the semaphore's
		// own history: asks, grants and notices, a release
		"quota_wait.json":      {"ImVwb2NoIg==", `"markerName": "LocalActivity"`, "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED", "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED", "WORKFLOW_EXECUTION_COMPLETED"},
		"quota_semaphore.json": {"EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED", "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED", "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED"},
		// a Rollback run: who asked and why are in its input
		"rollback.json": {`"RollbackRelease"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// a Rollback run under production's approval rule
		"rollback_approval.json": {`"markerName": "LocalActivity"`, "WORKFLOW_EXECUTION_UPDATE_COMPLETED", `"RollbackRelease"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// the same, with its record written as it ends (change
		// "rollback-record": its marker, then the local activity)
		"rollback_record.json": {"InJvbGxiYWNrLXJlY29yZCI=", `"RollbackRelease"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// a PoolSize run: who asked is in its input
		"pool_size.json": {`"SizePool"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// change "freeze": production reads the decision key (overrides are
		// signed), waits on a timer for its deny window to end, releases
		// the marker of change "analysis", the check and the analysis,
		// then the approvers' second decision
		"analysis_inconclusive.json": {"ImFuYWx5c2lzIg==", `"Analyze"`, "WORKFLOW_EXECUTION_UPDATE_COMPLETED", `"RetireRelease"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// the markers of changes "analysis" and "canary", a step's weight
		// and the promotion
		"canary.json":      {"ImNhbmFyeSI=", `"SetCanaryWeight"`, `"PromoteCanary"`, "WORKFLOW_EXECUTION_COMPLETED"},
		"freeze_wait.json": {"ImZyZWV6ZSI=", `"markerName": "LocalActivity"`, "TIMER_FIRED", `"Production"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// a Scheduled run: the schedule's run built and started
		"scheduled.json": {`"StartScheduled"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// test's jobs: a RunSteps per cell (one with the phase's progress),
		// the build pod's Cleanup before them, then bake
		"jobs.json": {`"Cleanup"`, `"Run"`, `"Bake"`, "WORKFLOW_EXECUTION_COMPLETED"},
		// change "test-environment-quota": deploy waits (signals) for a slot
		// of the project's test environments, then deploys; the slot goes
		// back as the run ends
		"test_environment_wait.json": {"InRlc3QtZW52aXJvbm1lbnQtcXVvdGEi", "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED", `"Deploy"`, "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED", "WORKFLOW_EXECUTION_COMPLETED"},
		"worker_loss_rerun.json":     {"InJlcnVuLWFmdGVyLXdvcmtlci1sb3NzIg==", "ACTIVITY_TASK_TIMED_OUT", `"Production"`, "WORKFLOW_EXECUTION_COMPLETED"},
	}
	seen := 0
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// protojson spaces its output at random: one space or two after a key
			spaced := afterKey.ReplaceAllString(string(b), `": `)
			for _, s := range want[name] {
				if !strings.Contains(spaced, afterKey.ReplaceAllString(s, `": `)) {
					t.Errorf("history lacks %q", s)
				}
			}
			for _, batch := range batchesIn[name] {
				if !slices.ContainsFunc(scheduledTogether(t, b), func(got []string) bool { return slices.Equal(got, batch) }) {
					t.Errorf("no workflow task scheduled %v together", batch)
				}
			}
			if other, ok := sameRunAs[name]; ok {
				o, err := os.ReadFile(filepath.Join("testdata", other))
				if err != nil {
					t.Fatal(err)
				}
				if got, want := scheduledTogether(t, b), scheduledTogether(t, o); !slices.EqualFunc(got, want, slices.Equal) {
					t.Errorf("scheduled %v, want what %s scheduled: %v", got, other, want)
				}
			}
			for _, a := range notScheduled[name] {
				if slices.ContainsFunc(scheduledTogether(t, b), func(got []string) bool { return slices.Contains(got, a) }) {
					t.Errorf("%s scheduled as an activity of its own", a)
				}
			}
			if want, ok := localActivities[name]; ok {
				if got := localActivityTypes(t, b); !slices.Equal(got, want) {
					t.Errorf("local activities %v, want %v", got, want)
				}
			}
			if n, ok := timersStarted[name]; ok {
				if got := bytes.Count(b, []byte(`"EVENT_TYPE_TIMER_STARTED"`)); got != n {
					t.Errorf("%d timers started, want %d", got, n)
				}
			}
			if n, ok := statusesScheduled[name]; ok {
				if got := countScheduled(scheduledTogether(t, b), "SetStatus"); got != n {
					t.Errorf("%d commit status activities scheduled, want %d", got, n)
				}
			}
			if n, ok := versionMarkers[name]; ok {
				if got := countVersionMarkers(t, b); got != n {
					t.Errorf("%d version markers, want %d", got, n)
				}
			}
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(Pipeline)
			r.RegisterWorkflow(Chaos)
			r.RegisterWorkflow(Rollback)
			r.RegisterWorkflow(PoolSize)
			r.RegisterWorkflow(Quota)
			r.RegisterWorkflow(Scheduled)
			h, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: originalExecution(h)}); err != nil {
				t.Fatalf("replay: %v", err)
			}
		})
		if _, ok := want[name]; ok {
			seen++
		}
	}
	if seen != len(want) {
		t.Fatalf("found %d of the %d required histories in testdata", seen, len(want))
	}
}

var afterKey = regexp.MustCompile(`":\s+`)

// batchesIn lists activities a history must schedule in one workflow task.
var batchesIn = map[string][][]string{
	// concurrent-tail: the approval policy beside the phase before the
	// gate, the approval's notice beside production; the cleanup, the last
	// notice and the final status at once
	"success_v5.json": {{"ApprovalPolicy", "MarkAvailable"}, {"Send", "Production"}, {"DeleteEnvironment", "Cleanup", "Send", "SetStatus"}},
	"success_v6.json": {{"ApprovalPolicy", "MarkAvailable"}, {"Send", "Production"}, {"DeleteEnvironment", "Cleanup", "Send", "SetStatus"}},
	"success_v7.json": {{"Send", "Production"}, {"DeleteEnvironment", "Cleanup", "Send", "SetStatus"}},
	"success_v8.json": {{"Send", "Production"}, {"DeleteEnvironment", "Cleanup", "Send", "SetStatus"}},
	// the build pod released after test, on its own, before the approval
	"success_pool_v6.json": {{"ApprovalPolicy", "Run"}, {"Cleanup"}},
	"success_pool_v7.json": {{"Cleanup"}},
}

// notScheduled lists activities a history must not schedule as activity
// tasks: from epoch 2 the approval policy is a local activity and a later
// phase's "running" status is its worker's.
var notScheduled = map[string][]string{
	"success_v7.json": {"ApprovalPolicy"}, "success_pool_v7.json": {"ApprovalPolicy"},
	"success_v8.json": {"ApprovalPolicy"}, "success_pool_v8.json": {"ApprovalPolicy"},
}

// statusesScheduled is how many commit status activities a history
// schedules. Epoch 2: the first phase's "running", the approval gate's
// (when the pipeline has a phase before it) and the final status; epoch 3
// asks the first phase's of the worker that runs the phase.
var statusesScheduled = map[string]int{"success_v7.json": 3, "success_pool_v7.json": 2, "success_v8.json": 2, "success_pool_v8.json": 1}

func countScheduled(batches [][]string, activity string) int {
	n := 0
	for _, b := range batches {
		for _, a := range b {
			if a == activity {
				n++
			}
		}
	}
	return n
}

// timersStarted is how many timers a history starts. Epoch 1 starts a
// commit status gate for each phase after the first (seven) besides the
// approval's expiry; epoch 2 only for the phases that are not one activity
// (approval: its gate and its expiry).
var timersStarted = map[string]int{"success_v6.json": 8, "success_v7.json": 2}

// sameRunAs pairs a history of an epoch with one of the same scenario
// recorded with a version marker per change.
var sameRunAs = map[string]string{"success_v6.json": "success_v5.json"}

// versionMarkers is how many version markers a history records: a run of
// an epoch records the epoch's alone.
var versionMarkers = map[string]int{
	"success_v5.json": 6, "success_v6.json": 1, "success_pool_v6.json": 1, "success_v7.json": 1, "success_pool_v7.json": 1,
	"success_v8.json": 1, "success_pool_v8.json": 1, "success_v9.json": 1, "success_v10.json": 1,
}

// localActivities are the local activities a history records, in order:
// epoch 5 writes the run's record as it starts and as it ends.
var localActivities = map[string][]string{
	"success_v9.json":        {"ApprovalPolicy"},
	"success_v10.json":       {"RecordRun", "ApprovalPolicy", "RecordRun"},
	"rollback_approval.json": {"ApprovalPolicy"},
	"rollback_record.json":   {"ApprovalPolicy", "RecordRun"},
	"quota_wait.json":        {"RecordRun", "QuotaAcquire", "ApprovalPolicy", "RecordRun"},
	"chaos_experiment.json":  nil,
	"chaos_record.json":      {"RecordRun"},
}

func localActivityTypes(t *testing.T, history []byte) []string {
	h, err := client.HistoryFromJSON(bytes.NewReader(history), client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range h.Events {
		a := e.GetMarkerRecordedEventAttributes()
		if a == nil || a.GetMarkerName() != "LocalActivity" {
			continue
		}
		var data struct{ ActivityType string }
		if p := a.GetDetails()["data"].GetPayloads(); len(p) > 0 {
			if err := json.Unmarshal(p[0].GetData(), &data); err != nil {
				t.Fatal(err)
			}
		}
		types = append(types, data.ActivityType)
	}
	return types
}

func countVersionMarkers(t *testing.T, history []byte) int {
	h, err := client.HistoryFromJSON(bytes.NewReader(history), client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range h.Events {
		if a := e.GetMarkerRecordedEventAttributes(); a != nil && a.GetMarkerName() == "Version" {
			n++
		}
	}
	return n
}

// scheduledTogether returns the activities each workflow task scheduled.
func scheduledTogether(t *testing.T, history []byte) [][]string {
	h, err := client.HistoryFromJSON(bytes.NewReader(history), client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byTask := map[int64][]string{}
	var order []int64
	for _, e := range h.Events {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			id := a.GetWorkflowTaskCompletedEventId()
			if _, ok := byTask[id]; !ok {
				order = append(order, id)
			}
			byTask[id] = append(byTask[id], a.GetActivityType().GetName())
		}
	}
	var out [][]string
	for _, id := range order {
		out = append(out, byTask[id])
	}
	return out
}

// originalExecution is the recorded run's workflow ID and run ID, which
// the workflow derives its children's IDs from (ChaosWorkflowID): the run
// ID is the started event's, the workflow ID is read back from a child's.
func originalExecution(h *historypb.History) workflow.Execution {
	var ex workflow.Execution
	for _, e := range h.Events {
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			ex.RunID = a.GetOriginalExecutionRunId()
		}
		if a := e.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil && ex.ID == "" {
			if id, _, ok := strings.Cut(a.GetWorkflowId(), "@"+ex.RunID+"/"); ok {
				ex.ID = id
			}
		}
	}
	if ex.ID == "" {
		ex.ID = "ReplayId"
	}
	return ex
}

// TestReplayedRunsKeepTheirTestNamespace replays every history that made a
// test environment and compares the namespace the code asks Deploy for with
// the one the run recorded: a run in flight across an upgrade must go on
// (and clean up) in the namespace it made, whatever a later epoch names.
func TestReplayedRunsKeepTheirTestNamespace(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
		if err != nil {
			t.Fatal(err)
		}
		recorded := ""
		for _, e := range h.Events {
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == contract.Deploy.Name {
				var in contract.DeployInput
				if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in); err != nil {
					t.Fatal(err)
				}
				if in.Ephemeral {
					recorded = in.Namespace
				}
			}
		}
		if recorded == "" {
			continue
		}
		checked++
		t.Run(filepath.Base(f), func(t *testing.T) {
			asked := &deployNamespaces{}
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{Interceptors: []interceptor.WorkerInterceptor{asked}})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflow(Pipeline)
			r.RegisterWorkflow(Chaos)
			if err := r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: originalExecution(h)}); err != nil {
				t.Fatalf("replay: %v", err)
			}
			if got := asked.names(); !slices.Equal(got, []string{recorded}) {
				t.Errorf("replayed code asked Deploy for %v, the run recorded %q", got, recorded)
			}
		})
	}
	if checked < 2 {
		t.Fatalf("only %d histories made a test environment", checked)
	}
}

// deployNamespaces records the namespace of every Deploy the replayed
// workflow code asks for.
type deployNamespaces struct {
	interceptor.WorkerInterceptorBase
	mu   sync.Mutex
	seen []string
}

func (d *deployNamespaces) names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

func (d *deployNamespaces) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &deployInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, d: d}
}

type deployInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	d *deployNamespaces
}

func (i *deployInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&deployOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, d: i.d})
}

type deployOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	d *deployNamespaces
}

func (o *deployOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...interface{}) workflow.Future {
	if activityType == contract.Deploy.Name && len(args) == 1 {
		if in, ok := args[0].(contract.DeployInput); ok && in.Ephemeral {
			o.d.mu.Lock()
			o.d.seen = append(o.d.seen, in.Namespace)
			o.d.mu.Unlock()
		}
	}
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}
