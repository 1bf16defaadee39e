package runs

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/workflows"
)

// TestNonASCIIBranchStarts: a branch Git accepts but a gRPC header cannot
// carry (feature/ünïcödé-🚀) starts its run at once, under an ID of
// printable ASCII, and the run is found again by the branch as Git spells
// it. Before, the start failed on every retry while its push stood
// accepted.
func TestNonASCIIBranchStarts(t *testing.T) {
	c := &Client{Temporal: devservertest.Start(t)}
	branch := "feature/ünïcödé-🚀"
	spec, err := pipelines.Parse(".sluice.yml", []byte("version: 1\nbuild: {commands: [make]}\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	req := workflows.Request{Spec: *spec, Push: workflows.Push{Repo: "acme/x", Branch: branch, Commit: strings.Repeat("a", 40), DeliveryID: "d1"}}
	started, err := c.Start(context.Background(), req)
	if err != nil {
		t.Fatalf("start of a run of %s: %v", branch, err)
	}
	if id := started.Ref.WorkflowID; id != `pipeline/acme/x:feature/\u00fcn\u00efc\u00f6d\u00e9-\U0001f680` {
		t.Errorf("workflow ID %q", id)
	}
	ref, err := ParseRef("pipeline/acme/x:" + branch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Temporal.DescribeWorkflowExecution(context.Background(), ref.WorkflowID, ""); err != nil {
		t.Errorf("the run is not found by its branch as Git spells it: %v", err)
	}
	if workflows.WorkflowID("acme/x", "feature/plain-ascii") != "pipeline/acme/x:feature/plain-ascii" {
		t.Error("an ASCII branch's ID changed")
	}
}
