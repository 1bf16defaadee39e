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

// TestReleaseWaitsOutTheFreeze: on the platform, a run of main whose
// project freezes production until a moment a little ahead bakes and
// promotes at once, then waits — `sluice status` says until when — and
// releases once the window has ended.
func TestReleaseWaitsOutTheFreeze(t *testing.T) {
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

	// the window ends 75 s from now: the bake and promote of a warm
	// cache take a fraction of it
	until := time.Now().Add(75 * time.Second).UTC().Truncate(time.Second)
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
	var frozen bool
	for deadline := time.Now().Add(time.Until(until)); time.Now().Before(deadline) && !frozen; time.Sleep(300 * time.Millisecond) {
		out, _, _ := e.sluice("status", started.RunID)
		frozen = strings.Contains(out, want)
	}
	if !frozen {
		out, _, _ := e.sluice("status", started.RunID)
		t.Fatalf("the run was never seen frozen before %s (was bake slower than the window?):\n%s", until, out)
	}
	e.waitStateOr(started.RunID, "succeeded", "failed", 3*time.Minute)
	// the release went out once the window had ended: its Deployment
	// was made then
	d, err := client.AppsV1().Deployments(prodNS).Get(ctx, "hello", metav1.GetOptions{})
	if err != nil || d.CreationTimestamp.Time.Before(until) {
		t.Fatalf("the release's deployment: created %v (the window ended %s): %v", d.CreationTimestamp, until, err)
	}
}
