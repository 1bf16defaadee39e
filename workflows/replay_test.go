package workflows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"
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
		"worker_loss_rerun.json": {"InJlcnVuLWFmdGVyLXdvcmtlci1sb3NzIg==", "ACTIVITY_TASK_TIMED_OUT", `"Production"`, "WORKFLOW_EXECUTION_COMPLETED"},
	}
	seen := 0
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range want[name] {
				if !strings.Contains(string(b), s) {
					t.Errorf("history lacks %q", s)
				}
			}
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(Pipeline)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
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
