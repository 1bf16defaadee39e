package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/app"
	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/chaos/chaostest"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// writeExperiment writes an experiment file against the sample's Service.
func writeExperiment(t *testing.T, name, faults string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yml")
	src := fmt.Sprintf(`version: 1
name: %s
target: {namespace: placeholder, service: hello}
probe: {path: /healthz, rate: 50}
steady-state: 3s
recovery: 8s
slo: {max-error-window: 1500ms}
faults:
%s`, name, faults)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestChaosExperiments runs experiments through `sluice chaos` on the
// embedded server and the local platform: a pod kill the sample survives
// with two replicas and does not with one; an upgrade fault cancelled
// mid-way and one whose workflow was terminated (the sweeper's TTL) are
// both removed.
func TestChaosExperiments(t *testing.T) {
	p := testenv.Require(t)
	e := newEnv(t)
	e.startDev("--worker=false")
	workerArgs := []string{"worker", "--data-dir", e.dataDir, "--kubeconfig", p.Kubeconfig}
	w := e.start(workerArgs...)
	two, one := chaostest.DeploySample(t, 2), chaostest.DeploySample(t, 1)
	kill := writeExperiment(t, "pod-kill", "  - {kind: pod-kill, duration: 3s}\n")

	t.Run("pod kill, two replicas: passes", func(t *testing.T) {
		out, errOut, code := e.sluice("chaos", "run", kill, "--target-namespace", two.Namespace)
		t.Log(out)
		if code != 0 || !strings.Contains(out, "PASSED") || !strings.Contains(out, "fault 1 pod-kill injected: deleted 1 of 2 pods") || !strings.Contains(out, "fault 1 pod-kill removed") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("pod kill, one replica: the SLO is breached", func(t *testing.T) {
		out, errOut, code := e.sluice("chaos", "run", kill, "--target-namespace", one.Namespace)
		t.Log(out)
		if code != 1 || !regexp.MustCompile(`FAILED: error window of [0-9.]+m?s exceeds the SLO's 1.5s`).MatchString(out) {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("scheduled: runs as a Temporal Schedule", func(t *testing.T) {
		out, errOut, code := e.sluice("chaos", "schedule", kill, "--every", "24h", "--now", "--target-namespace", two.Namespace)
		if code != 0 || !strings.Contains(out, "scheduled every 24h0m0s as chaos-schedule/pod-kill") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		c, err := client.Dial(client.Options{HostPort: e.temporalAddress()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// the run the schedule started at once ends, and passes
		poll.UntilWithin(t, 2*time.Minute, "the scheduled experiment to pass", func() bool {
			resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
				Query: "WorkflowType = 'Chaos' AND TemporalScheduledById = 'chaos-schedule/pod-kill' AND ExecutionStatus = 'Completed'"})
			return err == nil && len(resp.Executions) == 1
		})
		if out, errOut, code := e.sluice("chaos", "unschedule", "pod-kill"); code != 0 {
			t.Fatalf("unschedule: exit %d\n%s%s", code, out, errOut)
		}
		if _, errOut, code := e.sluice("chaos", "unschedule", "pod-kill"); code == 0 || !strings.Contains(errOut, "no experiment") {
			t.Fatalf("unscheduling twice: exit %d, %s", code, errOut)
		}
	})

	// An upgrade to an image that never becomes ready: the old pods keep
	// serving while the rollout hangs.
	broken := p.Registry + "/sluice/busybox:latest"
	upgraded := func() bool {
		d, err := two.Client.AppsV1().Deployments(two.Namespace).Get(context.Background(), "hello", metav1.GetOptions{})
		return err == nil && d.Spec.Template.Spec.Containers[0].Image == broken && d.Labels[chaos.LabelFault] != ""
	}
	restored := func() bool {
		d, err := two.Client.AppsV1().Deployments(two.Namespace).Get(context.Background(), "hello", metav1.GetOptions{})
		return err == nil && d.Spec.Template.Spec.Containers[0].Image == two.Image && d.Labels[chaos.LabelFault] == "" && d.Annotations[chaos.AnnotationRestore] == ""
	}
	startUpgrade := func(t *testing.T, name, hold string) string {
		t.Helper()
		f := writeExperiment(t, name, fmt.Sprintf("  - {kind: upgrade, image: %q, %s}\n", broken, hold))
		out, errOut, code := e.sluice("chaos", "run", f, "--target-namespace", two.Namespace, "--detach")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		id := strings.TrimSpace(out[strings.LastIndex(out, ": ")+2:])
		poll.Until(t, "the upgrade fault to be injected", upgraded)
		return id
	}

	t.Run("cancelled mid-fault: the fault is removed", func(t *testing.T) {
		id := startUpgrade(t, "upgrade-cancel", "duration: 60s")
		cancelled := time.Now()
		if out, errOut, code := e.sluice("chaos", "cancel", id); code != 0 {
			t.Fatalf("cancel: exit %d\n%s%s", code, out, errOut)
		}
		poll.Until(t, "the Deployment's images back", restored)
		t.Logf("cancel to fault removed: %s", time.Since(cancelled).Round(time.Millisecond))
		poll.Until(t, "the experiment to close", func() bool {
			out, _, _ := e.sluice("chaos", "status", id)
			return strings.Contains(out, "CANCELLED")
		})
		two.WaitReady(t, 2)
	})

	t.Run("worker killed, workflow terminated: the TTL removes the fault", func(t *testing.T) {
		id := startUpgrade(t, "upgrade-ttl", "duration: 20s, ttl: 21s")
		w.kill(syscall.SIGKILL)
		c, err := client.Dial(client.Options{HostPort: e.temporalAddress()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Nothing will remove the fault now but its expiry.
		if err := c.TerminateWorkflow(context.Background(), id, "", "test: the experiment is gone"); err != nil {
			t.Fatal(err)
		}
		if !upgraded() {
			t.Fatal("the fault went away with the workflow: nothing left for the TTL to prove")
		}
		w = e.start(workerArgs...)
		started := time.Now()
		poll.UntilWithin(t, 2*time.Minute, "the sweeper to restore the Deployment", restored)
		t.Logf("restored %s after the worker came back (the TTL is 21s after injection, swept every %s)", time.Since(started).Round(time.Second), app.ChaosSweepInterval)
	})
}
