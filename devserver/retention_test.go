package devserver_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/sluice-cd/sluice/devserver"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestRetentionAndArchival: the namespace keeps a closed run for the
// retention it was given, then Temporal deletes it; with archival on its
// history is still read, from the archive. A later start with another
// retention changes the namespace's.
func TestRetentionAndArchival(t *testing.T) {
	dir := t.TempDir()
	start := func(retention time.Duration) (*devserver.Server, client.Client) {
		port, err := devserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		srv, err := devserver.Start(devserver.Options{FrontendPort: port, UIPort: -1, DatabaseFile: filepath.Join(dir, "temporal.db"),
			Retention: retention, ArchiveDir: filepath.Join(dir, "archive")})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace})
		if err != nil {
			srv.Stop()
			t.Fatal(err)
		}
		return srv, c
	}
	srv, c := start(2 * time.Second)
	w := worker.New(c, "retention", worker.Options{})
	w.RegisterWorkflow(hello)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 2*time.Second || ns.GetConfig().GetHistoryArchivalState() != enums.ARCHIVAL_STATE_ENABLED {
		t.Fatalf("namespace retention %s, archival %s; want 2s, enabled", got, ns.GetConfig().GetHistoryArchivalState())
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "kept", TaskQueue: "retention"}, hello, "archive")
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "Temporal to delete the closed run after its retention", func() bool {
		_, err := c.DescribeWorkflowExecution(ctx, "kept", run.GetRunID())
		var notFound *serviceerror.NotFound
		return errors.As(err, &notFound)
	})
	it := c.GetWorkflowHistory(ctx, "kept", run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	events := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			t.Fatalf("the archived history: %v", err)
		}
		events++
	}
	if events < 5 {
		t.Fatalf("the archived history has %d events", events)
	}
	w.Stop()
	c.Close()
	srv.Stop()

	srv, c = start(72 * time.Hour)
	defer srv.Stop()
	defer c.Close()
	ns, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 72*time.Hour {
		t.Fatalf("after a restart with 72h the namespace keeps runs %s", got)
	}
}
