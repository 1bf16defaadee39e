package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/chaos/chaostest"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestInstallInCluster builds the Sluice image FROM scratch with the
// platform's BuildKit, installs deploy/kubernetes with its deployer
// component into the local cluster with kubectl (an overlay sets the
// image, the Temporal, BuildKit and registry addresses and the API token's
// Secret), and runs a pipeline through the in-cluster worker: its build
// and test run in a warm pod of sluice-builds, and the in-cluster server
// serves the run's log. A second pipeline bakes, deploys to a test
// environment, runs its integration suite, promotes and releases to
// production, all with the worker's service account; the Sluice pod is
// deleted while that run waits for its approval, and the new pod's worker
// verifies the approval and the image baked before with the keys of the
// sluice-keys Secret; the fence refuses that account everywhere else. Then it installs the node agent
// (deploy/kubernetes/agent) from the same image and has its DaemonSet
// apply a network fault.
func TestInstallInCluster(t *testing.T) {
	p := testenv.Require(t)
	build := exec.Command("../../deploy/kubernetes/build-image.sh")
	build.Env = append(os.Environ(), "SLUICE_BUILDKIT_ADDR="+p.BuildKitAddr, "SLUICE_REGISTRY="+p.Registry)
	build.Stderr = os.Stderr
	out, err := build.Output()
	if err != nil {
		t.Fatalf("build the image: %v", err)
	}
	ref := strings.TrimSpace(string(out))
	name, tag, _ := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
	repoName := ref[:strings.LastIndex(ref, "/")+1] + name

	// Temporal runs on this machine, where the pod reaches it: on the pod
	// network's gateway, which exists once a pod runs on the gateway's node
	// (Sluice's pod, started below, is put there)
	e := newEnv(t)
	e.temporalHost = p.PodGateway
	temporal := e.temporalAddress()

	// BuildKit (a Unix socket here) and the registry (on loopback, where
	// the nodes pull from) are forwarded from the pod network's gateway;
	// the worker reaches the registry there under its own name
	// (--registry-endpoint)
	buildkitPort, registryPort := freePort(t), freePort(t)
	buildkitNet, buildkitAddr, _ := strings.Cut(p.BuildKitAddr, "://")

	const token = "in-cluster-ops-token-0123456789"
	overlay := t.TempDir()
	// the installation's keys, made once, in the sluice-keys Secret; the
	// server outside signs decisions with the same decision key
	keys := filepath.Join(overlay, "keys")
	if _, errOut, code := e.sluice("keys", "init", keys); code != 0 {
		t.Fatalf("keys init: %s", errOut)
	}
	abs, _ := filepath.Abs("../../deploy/kubernetes")
	base, err := filepath.Rel(overlay, abs) // kustomize takes no absolute base
	if err != nil {
		t.Fatal(err)
	}
	kustomization := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [%q]
components: [%q]
images:
  - {name: sluice/sluice, newName: %q, newTag: %q}
configMapGenerator:
  - name: sluice-env
    namespace: sluice-system
    behavior: merge
    literals:
      - SLUICE_TEMPORAL_ADDRESS=%s
      - SLUICE_BUILDKIT_ADDR=tcp://%s:%d
      - SLUICE_REGISTRY=%s
      - SLUICE_REGISTRY_ENDPOINT=%s=%s:%d
secretGenerator:
  - name: sluice-secrets
    namespace: sluice-system
    literals: [ops-token=%s]
  - name: sluice-keys
    namespace: sluice-system
    files: [keys/signing.key, keys/signing.key.pub, keys/decision-key]
generatorOptions: {disableNameSuffixHash: true}
patches:
  - target: {kind: Deployment, name: sluice}
    patch: |-
      - {op: add, path: /spec/template/spec/nodeSelector, value: {kubernetes.io/hostname: %s}}
`, base, filepath.Join(base, "deployer"), repoName, tag, temporal, p.PodGateway, buildkitPort,
		p.Registry, p.Registry, p.PodGateway, registryPort, token, p.GatewayNode)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("kubectl", "-n", "sluice-system", "logs", "deploy/sluice", "--all-containers", "--tail=40").CombinedOutput()
			t.Logf("sluice pod logs:\n%s", out)
		}
		_ = exec.Command("kubectl", "delete", "-k", overlay, "--wait=true", "--timeout=2m").Run()
	})
	kubectl(t, "apply", "-k", overlay)
	poll.Until(t, "the pod network's gateway "+p.PodGateway, func() bool {
		ln, err := net.Listen("tcp", net.JoinHostPort(p.PodGateway, "0"))
		if err == nil {
			ln.Close()
		}
		return err == nil
	})
	forward(t, fmt.Sprintf("%s:%d", p.PodGateway, buildkitPort), buildkitNet, buildkitAddr)
	forward(t, fmt.Sprintf("%s:%d", p.PodGateway, registryPort), "tcp", p.Registry)
	e.startDev("--worker=false", "--temporal-host", p.PodGateway, "--decision-key", filepath.Join(keys, "decision-key"))
	kubectl(t, "-n", "sluice-system", "rollout", "status", "deploy/sluice", "--timeout=2m")

	// a repository the pod can clone, over HTTP from this machine
	spec := "version: 1\nname: hello\nbuild:\n  pool: default\n  commands: [\"echo built > built.txt\"]\ntest:\n  commands: [\"test -f built.txt\"]\n"
	dir, commit := gitRepo(t, spec)
	root := t.TempDir()
	if err := os.Rename(filepath.Join(dir, ".git"), filepath.Join(root, "hello.git")); err != nil {
		t.Fatal(err)
	}
	git := gitsrctest.ServeOn(t, root, p.PodGateway+":0")

	var started struct {
		RunID  string `json:"run_id"`
		Commit string `json:"commit"`
	}
	if code := e.json(&started, "run", "--repo", git.URL+"/hello.git", "--ref", "main"); code != 0 || started.Commit != commit {
		_, errOut, _ := e.sluice("run", "--repo", git.URL+"/hello.git", "--ref", "main")
		t.Fatalf("run: code %d %+v %s", code, started, errOut)
	}
	e.waitState(started.RunID, "succeeded", 4*time.Minute)

	// the run's log, from the in-cluster server (beside the worker)
	ip := strings.TrimSpace(kubectl(t, "-n", "sluice-system", "get", "service", "sluice", "-o", "jsonpath={.spec.clusterIP}"))
	logs, errOut, code := e.sluice("logs", started.RunID, "--server", "http://"+ip+":8080", "--token", token)
	if code != 0 || !strings.Contains(logs, "$ echo built > built.txt") || !strings.Contains(logs, "$ test -f built.txt") {
		t.Fatalf("logs from the in-cluster server (code %d, %s):\n%s", code, errOut, logs)
	}
	// the build ran in a pool pod, which the worker's service account made
	pods := kubectl(t, "-n", "sluice-builds", "get", "pods", "-o", "name")
	if !strings.Contains(pods, "pod/") {
		t.Fatalf("no pool pods in sluice-builds: %q", pods)
	}

	t.Run("deploy and production through the in-cluster worker", func(t *testing.T) {
		inClusterDeploy(t, e, p.Registry, root, git.URL, func(run string) string {
			logs, _, _ := e.sluice("logs", run, "--server", "http://"+ip+":8080", "--token", token)
			return logs
		})
	})

	t.Run("node agent applies network faults", func(t *testing.T) {
		agentOverlay := t.TempDir()
		base, err := filepath.Rel(agentOverlay, filepath.Join(abs, "agent"))
		if err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%q]\nimages:\n  - {name: sluice/sluice, newName: %q, newTag: %q}\n", base, repoName, tag)
		if err := os.WriteFile(filepath.Join(agentOverlay, "kustomization.yaml"), []byte(k), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				out, _ := exec.Command("kubectl", "-n", "sluice-system", "logs", "ds/sluice-agent", "--tail=40").CombinedOutput()
				t.Logf("agent logs:\n%s", out)
			}
			_ = exec.Command("kubectl", "delete", "-k", agentOverlay, "--wait=true", "--timeout=2m").Run()
		})
		kubectl(t, "apply", "-k", agentOverlay)
		kubectl(t, "-n", "sluice-system", "rollout", "status", "ds/sluice-agent", "--timeout=2m")
		a := chaostest.DeploySample(t, 2)
		inj := &chaos.Injector{Client: a.Client}
		fin := contract.FaultInput{WorkflowID: "chaos/in-cluster-agent", Fault: contract.Fault{Kind: contract.FaultNetworkLoss, Loss: 40, Duration: 10 * time.Second}}
		o, summary := a.Experiment(t, inj, fin, time.Second, 6*time.Second)
		t.Logf("%s: %d of %d requests failed", summary, o.Failed, o.Requests)
		if o.Failed == 0 {
			t.Errorf("40%% packet loss applied by the DaemonSet's agents: no request failed")
		}
		fin.Namespace, fin.Service = a.Namespace, "hello"
		if _, err := inj.Remove(context.Background(), fin); err != nil {
			t.Fatal(err)
		}
		a.WaitReady(t, 2)
	})
}
