package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	imagepkg "github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/workflows"
)

// TestWorkerKilledDuringRolloutWait: the worker dies (SIGKILL) while the
// deploy phase waits for a slow rollout (a readiness probe that passes
// after 45 s). Another worker takes the phase over once the heartbeat
// stops (20 s); applying again changes nothing, so the run ends with one
// rollout: generation 1, one ReplicaSet. The second attempt waits longer
// than the heartbeat timeout, so without its heartbeats it would be
// retried a third time.
func TestWorkerKilledDuringRolloutWait(t *testing.T) {
	p := testenv.Require(t)
	e := newEnv(t)
	e.startDev("--worker=false")
	_, client := p.Connect(t)
	spec := `version: 1
name: slowroll
bake: {image: 127.0.0.1:5000/sluice-test/slowroll}
deploy: {manifests: deploy/k8s}
`
	repo, _ := gitsrctest.Repo(t, "../../examples/hello", spec)
	manifest := filepath.Join(repo, "deploy", "k8s", "hello.yaml")
	b, _ := os.ReadFile(manifest)
	slow := strings.Replace(string(b), "readinessProbe:\n            httpGet: {path: /healthz, port: 8080}",
		"readinessProbe:\n            httpGet: {path: /healthz, port: 8080}\n            initialDelaySeconds: 45", 1)
	if slow == string(b) {
		t.Fatal("the sample manifest changed: no readiness probe to slow down")
	}
	slow = strings.Replace(slow, "image: hello", "image: slowroll", 1)
	if err := os.WriteFile(manifest, []byte(slow), 0o644); err != nil {
		t.Fatal(err)
	}
	gitsrctest.Commit(t, repo, "slow readiness")
	workerArgs := []string{"worker", "--data-dir", e.dataDir, "--kubeconfig", p.Kubeconfig, "--buildkit-addr", p.BuildKitAddr, "--registry", p.Registry}
	w1 := e.start(workerArgs...)

	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		t.Fatal("run failed to start")
	}
	runID := started.RunID[strings.LastIndex(started.RunID, "@")+1:]
	ns := workflows.TestNamespace("slowroll", runID)
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	// the rollout has begun: the Deployment exists and is not yet
	// available (a cold bake of the sample may come first)
	for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		d, err := client.AppsV1().Deployments(ns).Get(context.Background(), "hello", metav1.GetOptions{})
		if err == nil && d.Status.AvailableReplicas == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deploy never started waiting: %v\n%s", err, w1.out.String())
		}
	}
	w1.kill(syscall.SIGKILL)
	killed := time.Now()
	e.start(workerArgs...)
	out, _, code := e.sluice("status", started.RunID, "--wait")
	if code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("run did not complete after the worker was killed (code %d):\n%s", code, out)
	}
	t.Logf("finished %s after the kill", time.Since(killed).Round(time.Second))
	d, err := client.AppsV1().Deployments(ns).Get(context.Background(), "hello", metav1.GetOptions{})
	if err == nil && d.Generation != 1 {
		t.Fatalf("the deployment was rolled out %d times", d.Generation)
	}
	rss, err := client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	if err == nil && len(rss.Items) > 1 {
		t.Fatalf("%d ReplicaSets: the retry rolled out again", len(rss.Items))
	}
	logs, _, _ := e.sluice("logs", started.RunID)
	if strings.Count(logs, "deploy | applied deployment/hello") != 2 || !strings.Contains(logs, "deployment/hello available") {
		t.Fatalf("want the deploy applied twice (the killed attempt and its one retry) and the rollout finished once:\n%s", logs)
	}
}

// TestFailingIntegrationLeavesNothing: the integration suite fails against
// the deployed sample; the run fails in integration, its compensation
// deletes the test environment, and the digest was never marked available.
func TestFailingIntegrationLeavesNothing(t *testing.T) {
	p := testenv.Require(t)
	e := newEnv(t)
	e.startDev("--kubeconfig", p.Kubeconfig, "--buildkit-addr", p.BuildKitAddr, "--registry", p.Registry)
	_, client := p.Connect(t)
	image := fmt.Sprintf("127.0.0.1:5000/sluice-test/failint-%d/hello", time.Now().UnixNano()) // "hello" is the manifest's image
	spec := fmt.Sprintf(`version: 1
name: failint
bake: {image: %s}
deploy: {manifests: deploy/k8s}
integration:
  image: 127.0.0.1:5000/sluice/busybox:latest
  commands:
    - wget -qO- "http://$HELLO_SERVICE_HOST:$HELLO_SERVICE_PORT/?name=x" | grep "this greeting does not exist"
promote: {}
`, image)
	repo, _ := gitsrctest.Repo(t, "../../examples/hello", spec)
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		t.Fatal("run failed to start")
	}
	st := e.waitState(started.RunID, "failed", 5*time.Minute)
	if st.Phase != "integration" {
		t.Fatalf("failed in %q, want integration: %+v", st.Phase, st)
	}
	runID := started.RunID[strings.LastIndex(started.RunID, "@")+1:]
	ns := workflows.TestNamespace("failint", runID)
	if got, err := client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err == nil && got.DeletionTimestamp == nil {
		t.Fatalf("the failed run's environment %s is still there", ns)
	}
	if d, err := imagepkg.Digest(context.Background(), image, "available"); err == nil {
		t.Fatalf("the failed run's image was marked available: %s", d)
	}
	logs, _, _ := e.sluice("logs", started.RunID)
	if !strings.Contains(logs, "integration suite failed") && !strings.Contains(logs, "run finished: failed") {
		t.Fatalf("log:\n%s", logs)
	}
}
