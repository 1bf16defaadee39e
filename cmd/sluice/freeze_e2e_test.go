package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv"
)

// TestFreezeHoldsTheReleaseUntilAnAdminOverrides: on the platform, a run
// of main whose project freezes production for the next hour bakes and
// promotes at once, then waits — `sluice status` says until when, and
// nothing is released; `sluice unfreeze` without a run id or by a role
// other than admin is refused; the admin's override releases it at once,
// recorded with who and why. (Waiting out the window is the workflow's
// TestProductionWaitsForTheFreeze and replay history freeze_wait.json.)
func TestFreezeHoldsTheReleaseUntilAnAdminOverrides(t *testing.T) {
	p := testenv.Require(t)
	e := newEnv(t)
	_, client := p.Connect(t)
	ctx := context.Background()
	prodNS := fmt.Sprintf("frozen-prod-%d", time.Now().UnixNano()%1_000_000_000)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prodNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), prodNS, metav1.DeleteOptions{}) })
	spec := fmt.Sprintf(`version: 1
name: frozen
bake: {image: 127.0.0.1:5000/sluice-test/frozen/hello}
promote: {}
environments:
  production: {namespace: %s, strategy: rolling}
production: {manifests: deploy/k8s}
`, prodNS)
	repo, _ := gitsrctest.Repo(t, "../../examples/hello", spec)

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
repositories:
  - {name: acme/frozen, provider: github, clone_url: %q, webhook_secret: {env: FROZEN_HOOK}}
projects:
  - name: payments
    repositories: [acme/frozen]
    environments:
      production:
        branches: [main]
        namespaces: [%s]
        freeze:
          deny:
            - {name: launch-week, from: %s, until: %s}
`, repo, prodNS, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), until.Format(time.RFC3339))), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FROZEN_HOOK", "frozen-hook-secret-value")
	e.startDev("--config", cfg, "--kubeconfig", p.Kubeconfig, "--buildkit-addr", p.BuildKitAddr, "--registry", p.Registry)

	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", "acme/frozen", "--ref", "main"); code != 0 {
		_, errOut, _ := e.sluice("run", "--repo", "acme/frozen", "--ref", "main")
		t.Fatalf("run did not start: %s", errOut)
	}
	want := "production frozen until " + until.Format(time.RFC3339) + " (deny window launch-week)"
	var out string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline) && !strings.Contains(out, want); time.Sleep(300 * time.Millisecond) {
		out, _, _ = e.sluice("status", started.RunID)
	}
	if !strings.Contains(out, want) {
		t.Fatalf("the run was never seen frozen:\n%s", out)
	}
	if _, err := client.AppsV1().Deployments(prodNS).Get(ctx, "hello", metav1.GetOptions{}); err == nil {
		t.Fatal("a frozen run released")
	}
	branch := strings.Split(started.RunID, "@")[0]
	if _, errOut, code := e.sluice("unfreeze", branch, "--reason", "incident 42"); code == 0 || !strings.Contains(errOut, "names the run by its id") {
		t.Fatalf("unfreeze of a branch: %d %s", code, errOut)
	}
	out, errOut, code := e.sluice("unfreeze", started.RunID, "--reason", "incident 42 hotfix")
	if code != 0 || !strings.Contains(out, "released from its freeze (until "+until.Format(time.RFC3339)+")") {
		t.Fatalf("unfreeze: %d %s%s", code, out, errOut)
	}
	e.waitStateOr(started.RunID, "succeeded", "failed", 3*time.Minute)
	if _, err := client.AppsV1().Deployments(prodNS).Get(ctx, "hello", metav1.GetOptions{}); err != nil {
		t.Fatalf("the overridden release's deployment: %v", err)
	}
	out, _, _ = e.sluice("status", started.RunID)
	if !strings.Contains(out, "production released from its freeze (until "+until.Format(time.RFC3339)+") by ") || !strings.Contains(out, "incident 42 hotfix") {
		t.Fatalf("status after the override:\n%s", out)
	}
	audit, _, _ := e.sluice("audit", "--since", "1h")
	if !strings.Contains(audit, "production freeze overridden") || !strings.Contains(audit, "incident 42 hotfix") {
		t.Fatalf("audit:\n%s", audit)
	}
}
