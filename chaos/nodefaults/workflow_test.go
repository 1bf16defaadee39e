package nodefaults_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/chaos/chaostest"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/worker"
	"github.com/sluice-cd/sluice/workflows"
)

// TestCancelledNodeDownIsLifted runs a node-down experiment as a Chaos
// workflow on the embedded Temporal server with a worker whose node power
// is the platform's, cancels it while the node is off, and sees the node
// powered on, Ready and unmarked.
func TestCancelledNodeDownIsLifted(t *testing.T) {
	p := testenv.Require(t)
	a := chaostest.DeploySample(t, 2)
	c := devservertest.Start(t)
	stop, start := p.NodePower()
	w, err := worker.New(c, worker.Config{DataDir: t.TempDir(), Platform: activities.Platform{
		Kubeconfig: p.Kubeconfig, NodePower: &chaos.CommandPower{StopCommand: stop, StartCommand: start}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	e := contract.Experiment{Name: "zone-b-down", Namespace: a.Namespace, Service: "hello", Path: "/healthz", Rate: 20,
		ProbeTimeout: time.Second, SteadyState: 2 * time.Second, Recovery: 2 * time.Second,
		SLO:    contract.SLO{MaxErrorWindow: time.Minute},
		Faults: []contract.Fault{{Kind: contract.FaultZoneDown, Zone: "zone-b", Duration: 5 * time.Minute}}}
	ctx := context.Background()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "chaos/zone-b-down-cancel", TaskQueue: workflows.TaskQueue},
		workflows.Chaos, workflows.ChaosInput{Experiment: e})
	if err != nil {
		t.Fatal(err)
	}
	marked := func() []string {
		list, err := a.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: chaos.LabelFault})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range list.Items {
			out = append(out, n.Name)
		}
		return out
	}
	poll.UntilWithin(t, time.Minute, "the zone's node to go down", func() bool { return len(marked()) == 1 })
	down := marked()[0]
	poll.UntilWithin(t, time.Minute, "node "+down+" to be NotReady", func() bool { return !ready(*node(t, a, down)) })
	cancelled := time.Now()
	if err := c.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	poll.UntilWithin(t, 3*time.Minute, "the node to be back and unmarked", func() bool {
		n := node(t, a, down)
		return ready(*n) && n.Labels[chaos.LabelFault] == ""
	})
	t.Logf("cancel to node %s Ready and unmarked: %s", down, time.Since(cancelled).Round(time.Millisecond))
	var canceled *temporal.CanceledError
	if err := run.Get(ctx, nil); !errors.As(err, &canceled) {
		t.Fatalf("the experiment ended with %v, want cancelled", err)
	}
	a.WaitReady(t, 2)
}
