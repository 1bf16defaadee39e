package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// workerAccount is the in-cluster worker's identity (deploy/kubernetes).
const workerAccount = "system:serviceaccount:sluice-system:sluice"

// inClusterDeploy runs a pipeline whose every platform phase — bake,
// deploy to a test environment, integration, a chaos experiment (a pod
// killed while probed), promote, production — runs
// in the in-cluster worker with its service account (the deployer
// component), into a production namespace opened to it with the
// sluice.dev/deployer label. Then it asks the API server, as that
// account, for what the fence must refuse.
func inClusterDeploy(t *testing.T, e *env, registry, gitRoot, gitURL string, logsOf func(run string) string) {
	ctx := context.Background()
	prod := fmt.Sprintf("sluice-e2e-incluster-prod-%d", time.Now().UnixNano()%1_000_000_000)
	kubectl(t, "create", "namespace", prod)
	t.Cleanup(func() { _ = exec.Command("kubectl", "delete", "namespace", prod, "--wait=false").Run() })
	kubectl(t, "label", "namespace", prod, "sluice.dev/deployer=allowed")

	repo := registry + "/sluice-incluster/web"
	app := t.TempDir()
	files := map[string]string{
		"index.html": "served-in-cluster\n",
		"chaos/pod-kill.yml": `version: 1
name: pod-kill
target: {namespace: web, service: web}
probe: {rate: 20}
steady-state: 2s
recovery: 3s
slo: {max-error-window: 2s}
faults:
  - {kind: pod-kill, count: 1, duration: 2s, grace: 0s}
`,
		"Dockerfile": "FROM " + registry + "/sluice/busybox:latest\nCOPY index.html /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
		"deploy/k8s/web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: web
          image: web
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`,
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(app, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(app, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := fmt.Sprintf(`version: 1
name: web
environments:
  production: {namespace: %s}
build:
  pool: default
  commands: ["test -f index.html"]
bake:
  image: %s
deploy:
  manifests: deploy/k8s
integration:
  image: %s/sluice/busybox:latest
  commands:
    - for i in 1 2 3 4 5; do wget -qO- "http://$WEB_SERVICE_HOST:$WEB_SERVICE_PORT/" >/dev/null 2>&1 && break; sleep 1; done
    - wget -qO- "http://$WEB_SERVICE_HOST:$WEB_SERVICE_PORT/" | grep served-in-cluster
chaos:
  experiments: [chaos/pod-kill.yml]
promote:
  tag: available
approval:
  approvers: {users: [alice]}
  timeout: 48h
production:
  manifests: deploy/k8s
`, prod, repo, registry)
	dir, commit := gitsrctest.Repo(t, app, spec)
	if err := os.Rename(filepath.Join(dir, ".git"), filepath.Join(gitRoot, "web.git")); err != nil {
		t.Fatal(err)
	}

	var started struct {
		RunID  string `json:"run_id"`
		Commit string `json:"commit"`
	}
	if code := e.json(&started, "run", "--repo", gitURL+"/web.git", "--ref", "main"); code != 0 || started.Commit != commit {
		t.Fatalf("run: code %d %+v", code, started)
	}
	e.waitStateOr(started.RunID, "awaiting_approval", "failed", 6*time.Minute)
	// (run logs are files on the pod's data volume, an emptyDir: what the
	// phases before the restart wrote is read now)
	before := logsOf(started.RunID)
	// the pod goes while the run waits; the new one has the same keys
	// (the sluice-keys Secret), so it counts the approval the server
	// outside signs and releases the image the old one signed
	old := kubectl(t, "-n", "sluice-system", "get", "pods", "-l", "app.kubernetes.io/name=sluice", "-o", "name")
	kubectl(t, "-n", "sluice-system", "delete", "pod", "-l", "app.kubernetes.io/name=sluice", "--wait=true", "--timeout=2m")
	kubectl(t, "-n", "sluice-system", "rollout", "status", "deploy/sluice", "--timeout=2m")
	if now := kubectl(t, "-n", "sluice-system", "get", "pods", "-l", "app.kubernetes.io/name=sluice", "-o", "name"); now == old {
		t.Fatalf("the Sluice pod was not replaced: %s", now)
	}
	if _, errOut, code := e.sluice("approve", started.RunID, "--as", "alice"); code != 0 {
		t.Fatalf("approve: %d %s", code, errOut)
	}
	st := e.waitStateOr(started.RunID, "succeeded", "failed", 6*time.Minute)
	logs := before + logsOf(started.RunID)
	if st.State != "succeeded" {
		t.Fatalf("run %s:\n%s", st.State, logs)
	}
	succeeded := map[string]bool{}
	for _, ph := range st.Phases {
		succeeded[ph.Name] = ph.Status == "succeeded"
	}
	for _, ph := range []string{"bake", "deploy", "integration", "chaos", "promote", "approval", "production"} {
		if !succeeded[ph] {
			t.Fatalf("phase %s did not succeed: %+v", ph, st.Phases)
		}
	}
	for _, want := range []string{"bake | pushed " + repo + "@sha256:", "bake | signed ", "deploy | deployment/web available",
		"integration | served-in-cluster", "chaos | experiment pod-kill (chaos/pod-kill.yml)"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	// production runs the tested digest, the one promote marked available
	available, err := image.Digest(ctx, repo, "available")
	if err != nil {
		t.Fatal(err)
	}
	live := kubectl(t, "-n", prod, "get", "deployments", "-o", "jsonpath={.items[*].spec.template.spec.containers[*].image}")
	if !strings.Contains(live, repo+"@"+available) {
		t.Fatalf("production runs %q, want %s@%s", live, repo, available)
	}
	// the worker deleted the run's test environment
	m := regexp.MustCompile(`environment: namespace (\S+) `).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("the log names no test environment:\n%s", logs)
	}
	poll.Until(t, "the run's test environment "+m[1]+" deleted", func() bool {
		out, err := exec.Command("kubectl", "get", "namespace", m[1]).CombinedOutput()
		return err != nil && strings.Contains(string(out), "NotFound")
	})

	// the fence, asked as the worker's account (server-side dry runs)
	as := func(args ...string) (string, error) {
		out, err := exec.Command("kubectl", append([]string{"--as", workerAccount}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := as("-n", prod, "create", "configmap", "fence-probe", "--dry-run=server"); err != nil {
		t.Fatalf("a write in the opened namespace %s: %v\n%s", prod, err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "default", "create", "configmap", "fence-probe", "--dry-run=server"}, "sluice.dev/deployer=allowed"},
		{[]string{"-n", "kube-system", "create", "deployment", "fence-probe", "--image=busybox", "--dry-run=server"}, "sluice.dev/deployer=allowed"},
		{[]string{"-n", "sluice-builds", "create", "deployment", "fence-probe", "--image=busybox", "--dry-run=server"}, "sluice.dev/deployer=allowed"},
		{[]string{"create", "namespace", "fence-probe", "--dry-run=server"}, "its own test-environment namespaces"},
		{[]string{"label", "namespace", "default", "sluice.dev/deployer=allowed", "--dry-run=server"}, "forbidden"},
		{[]string{"-n", prod, "get", "secrets"}, "forbidden"},
		{[]string{"-n", prod, "create", "rolebinding", "fence-probe", "--clusterrole=admin", "--user=x", "--dry-run=server"}, "forbidden"},
	} {
		out, err := as(c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("as %s, kubectl %v: %v\n%s\nwant refused (%q)", workerAccount, c.args, err, out, c.want)
		}
	}
}

// kubectl runs kubectl against the platform and returns its output.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kubectl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// forward accepts TCP connections on listen and pipes each to addr on
// network, until the test ends: a component on this machine's loopback or
// a Unix socket, reached from pods at the pod network's gateway.
func forward(t *testing.T, listen, network, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := net.Dial(network, addr)
				if err != nil {
					return
				}
				defer d.Close()
				go func() { _, _ = io.Copy(d, c) }()
				_, _ = io.Copy(c, d)
			}()
		}
	}()
}
