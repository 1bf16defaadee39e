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

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv"
)

// exposureSpec releases the sample, four pods, with strategy and the
// error-rate analysis (errorRate, from 20 s; no approval: a bad release
// is judged by its metrics alone).
const exposureSpec = `version: 1
name: exposed-%[1]s
bake: {image: 127.0.0.1:5000/sluice-test/exposed/hello}
environments:
  production: {namespace: %[2]s, strategy: %[1]s}
production:
  manifests: deploy/k8s
  grace: 5s
%[3]s`

// BenchmarkBadReleaseExposure releases the same bad version (500 to 10 %
// of requests) after a good one, under users' traffic (25 requests/s),
// with each strategy and the same analysis: rolling (judged once rolled
// out), blue-green (judged after the switch, the old color kept) and
// canary (judged at 25 % of the pods). It reports the requests that failed
// from the bad run's start to its end (its undo included) and the seconds
// from the first failed measurement to the run's end, when traffic is all
// on the good version again. One release per strategy: -benchtime 1x.
func BenchmarkBadReleaseExposure(b *testing.B) {
	p := testenv.Require(b)
	e := newEnv(b)
	_, client := p.Connect(b)
	ctx := context.Background()
	strategies := []string{"rolling", "blue-green", "canary"}
	cfg := filepath.Join(b.TempDir(), "sluice.yaml")
	repos := map[string]string{}
	namespaces := map[string]string{}
	var conf strings.Builder
	conf.WriteString("repositories:\n")
	for _, s := range strategies {
		ns := fmt.Sprintf("exposed-%s-%d", s, time.Now().UnixNano()%1_000_000_000)
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		canary := ""
		if s == "canary" {
			canary = "  canary: {steps: [{weight: 25, analysis: true}, {weight: 50, pause: 2s}, {weight: 75, pause: 2s}]}\n"
		}
		repo, _ := gitsrctest.Repo(b, "../../examples/hello", fmt.Sprintf(exposureSpec, s, ns, canary)+errorRate("20s"))
		edit(b, repo, "deploy/k8s/hello.yaml", "replicas: 2 ", "replicas: 4 ")
		gitsrctest.Commit(b, repo, "four pods")
		repos[s], namespaces[s] = repo, ns
		fmt.Fprintf(&conf, "  - {name: acme/exposed-%s, provider: github, clone_url: %q, webhook_secret: {env: EXPOSED_HOOK}}\n", s, repo)
	}
	fmt.Fprintf(&conf, "prometheus: {url: %q}\n", p.PrometheusURL)
	if err := os.WriteFile(cfg, []byte(conf.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("EXPOSED_HOOK", "exposed-hook-secret-value")
	e.startDev("--config", cfg, "--kubeconfig", p.Kubeconfig, "--buildkit-addr", p.BuildKitAddr, "--registry", p.Registry)
	users := startTraffic(b, client, namespaces[strategies[0]])

	b.ResetTimer()
	for range b.N {
		for _, s := range strategies {
			users.to(namespaces[s])
			// the good version first, so the bad one has one to go back to
			if st := e.runToEnd("acme/exposed-"+s, 5*time.Minute); st.State != "succeeded" {
				b.Fatalf("%s: the good release: %s %s", s, st.State, st.Error)
			}
			edit(b, repos[s], "main.go", "var FailEvery int64\n", "var FailEvery int64 = 10\n")
			gitsrctest.Commit(b, repos[s], "fails every tenth request")
			start := time.Now()
			bad := e.runToEnd("acme/exposed-"+s, 5*time.Minute)
			end := time.Now()
			if bad.State != "failed" || bad.Outputs.Analysis == nil || bad.Outputs.Analysis.Verdict != contract.AnalysisFailed {
				b.Fatalf("%s: the bad release: %s %s", s, bad.State, bad.Error)
			}
			var firstFailed time.Time
			for _, m := range bad.Outputs.Analysis.Measurements {
				if m.Outcome == contract.AnalysisFailed {
					firstFailed = m.At
					break
				}
			}
			seen, failed := users.between(start, end)
			b.ReportMetric(float64(failed), s+"-failed-requests")
			b.ReportMetric(float64(seen), s+"-requests")
			b.ReportMetric(end.Sub(firstFailed).Seconds(), s+"-s-to-restore")
			edit(b, repos[s], "main.go", "var FailEvery int64 = 10\n", "var FailEvery int64\n")
			gitsrctest.Commit(b, repos[s], "fixed")
		}
	}
}

// runToEnd starts a run of repo's main and waits for its end.
func (e *env) runToEnd(repo string, timeout time.Duration) judgedStatus {
	e.t.Helper()
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		_, errOut, _ := e.sluice("run", "--repo", repo, "--ref", "main")
		e.t.Fatalf("run did not start: %s", errOut)
	}
	var st judgedStatus
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		st = judgedStatus{}
		if e.json(&st, "status", started.RunID) == 0 && (st.State == "succeeded" || st.State == "failed") {
			return st
		}
	}
	e.t.Fatalf("run %s did not end: %+v", started.RunID, st)
	return st
}
