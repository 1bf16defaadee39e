package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestUnprotectedBranchReachesNoProduction: a push of a branch the
// production environment does not protect, whose spec drops the approval
// and names the production namespace, builds, bakes and deploys to its test
// environment — and is withheld from approval and production. Nothing
// appears in the production namespace; the run's status, its log and its
// final commit status say what was withheld and why.
func TestUnprotectedBranchReachesNoProduction(t *testing.T) {
	p := testenv.Require(t)
	e := newEnv(t)
	_, client := p.Connect(t)
	ctx := context.Background()
	prodNS := fmt.Sprintf("governed-prod-%d", time.Now().UnixNano()%1_000_000_000)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prodNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), prodNS, metav1.DeleteOptions{}) })

	spec := fmt.Sprintf(`version: 1
name: governed
bake: {image: 127.0.0.1:5000/sluice-test/governed/hello}
deploy: {manifests: deploy/k8s}
promote: {}
environments:
  production: {namespace: %s}
production: {manifests: deploy/k8s}
`, prodNS)
	repo, _ := gitsrctest.Repo(t, "../../examples/hello", spec)
	if out, err := exec.Command("git", "-C", repo, "checkout", "-q", "-b", "feature/no-approval").CombinedOutput(); err != nil {
		t.Fatalf("git: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(repo, "FEATURE"), []byte("no approval\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commit := gitsrctest.Commit(t, repo, "a feature")

	statuses := newSources()
	gh := statuses.statusServer()
	t.Cleanup(gh.Close)
	secrets := t.TempDir()
	for name, v := range map[string]string{"hook": "governed-hook-secret", "gh": "governed-status-token"} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(secrets, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
repositories:
  - {name: acme/governed, provider: github, clone_url: %q, webhook_secret: {file: %q}, api_url: %q, api_token: {file: %q}}
projects:
  - name: payments
    repositories: [acme/governed]
    environments:
      production:
        branches: [main]
        namespaces: [%s]
        approval: {required: 1, users: [alice]}
`, repo, filepath.Join(secrets, "hook"), gh.URL+"/", filepath.Join(secrets, "gh"), prodNS)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startDev("--config", cfg, "--kubeconfig", p.Kubeconfig, "--buildkit-addr", p.BuildKitAddr, "--registry", p.Registry)

	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", "acme/governed", "--ref", "feature/no-approval"); code != 0 {
		_, errOut, _ := e.sluice("run", "--repo", "acme/governed", "--ref", "feature/no-approval")
		t.Fatalf("run did not start: %s", errOut)
	}
	e.waitStateOr(started.RunID, "succeeded", "failed", 5*time.Minute)

	var st struct {
		Phases []struct {
			Name string `json:"name"`
		} `json:"phases"`
		Policy struct {
			Project  string `json:"project"`
			Withheld []struct {
				Phase  string `json:"phase"`
				Reason string `json:"reason"`
			} `json:"withheld"`
		} `json:"policy"`
	}
	e.json(&st, "status", started.RunID)
	var withheld, ran []string
	for _, w := range st.Policy.Withheld {
		withheld = append(withheld, w.Phase)
		if !strings.Contains(w.Reason, "branch feature/no-approval may not reach the production environment") {
			t.Errorf("reason %q", w.Reason)
		}
	}
	for _, ph := range st.Phases {
		ran = append(ran, ph.Name)
	}
	if strings.Join(withheld, ",") != "approval,production" || strings.Contains(strings.Join(ran, ","), "production") {
		t.Fatalf("withheld %v, phases %v", withheld, ran)
	}
	out, _, _ := e.sluice("status", started.RunID)
	if !strings.Contains(out, "production   withheld: branch feature/no-approval") {
		t.Errorf("status:\n%s", out)
	}
	logs, _, _ := e.sluice("logs", started.RunID)
	if !strings.Contains(logs, "withheld by policy: approval, production") {
		t.Errorf("log:\n%s", logs)
	}
	// nothing of the run in the production namespace
	deps, err := client.AppsV1().Deployments(prodNS).List(ctx, metav1.ListOptions{})
	if err != nil || len(deps.Items) > 0 {
		t.Fatalf("production namespace: %v %v", deps, err)
	}
	cms, err := client.CoreV1().ConfigMaps(prodNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=sluice"})
	if err != nil || len(cms.Items) > 0 {
		t.Fatalf("release records in production: %v %v", cms, err)
	}
	final := func() string {
		statuses.mu.Lock()
		defer statuses.mu.Unlock()
		for _, s := range statuses.statuses[commit] {
			if s["context"] == "sluice" && s["state"] == "success" {
				return s["description"]
			}
		}
		return ""
	}
	// the final status goes beside the run's last steps
	poll.Until(t, "the run's final commit status", func() bool { return final() != "" })
	if !strings.Contains(final(), "withheld by policy: approval, production") {
		t.Errorf("final commit status %q", final())
	}
}
