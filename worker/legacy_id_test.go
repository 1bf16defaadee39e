package worker

import (
	"context"
	"testing"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// TestStartHandsPushToRunningLegacyRun (runs.Client.Start; here because
// this package's tests run the embedded server without -race): a branch whose run was started under
// the old workflow ID form gets the next push signalled to that run, not a
// second concurrent run under the new ID.
func TestStartHandsPushToRunningLegacyRun(t *testing.T) {
	c := devservertest.Start(t)
	queue := "legacy-" + t.Name()
	w := sdkworker.New(c, queue, sdkworker.Options{})
	// stands in for a Pipeline run of the old release: it waits for a push
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.PipelineInput) (string, error) {
		var req workflows.Request
		workflow.GetSignalChannel(ctx, workflows.SignalPush).Receive(ctx, &req)
		return req.Push.Commit, nil
	}, workflow.RegisterOptions{Name: "Pipeline"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx := context.Background()
	legacy := workflows.LegacyWorkflowID("acme/hello", "main")
	old, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: legacy, TaskQueue: queue}, "Pipeline", workflows.PipelineInput{})
	if err != nil {
		t.Fatal(err)
	}
	rc := &runs.Client{Temporal: c, TaskQueue: queue}
	commit := "0123456789abcdef0123456789abcdef01234567"
	st, err := rc.Start(ctx, workflows.Request{Push: workflows.Push{Repo: "acme/hello", Branch: "main", Commit: commit}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Previous == nil || st.Previous.WorkflowID != legacy {
		t.Fatalf("Start = %+v, want the push handed to %s", st, legacy)
	}
	var got string
	if err := old.Get(ctx, &got); err != nil || got != commit {
		t.Fatalf("legacy run received %q (%v), want %s", got, err, commit)
	}
	if _, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID("acme/hello", "main"), ""); err == nil {
		t.Fatal("a second run started under the new ID while the legacy run was running")
	}
}
