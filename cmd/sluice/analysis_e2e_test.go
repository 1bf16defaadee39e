package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv"
)

// judgedSpec releases the sample blue-green and judges each release by
// its error rate in the platform's Prometheus (which scrapes every 5 s):
// measurements start 15 s after the switch, one every 5 s, four in all;
// two failed ones put the previous release back, three without enough
// requests ask the approvers.
var judgedSpec = `version: 1
name: judged
bake: {image: 127.0.0.1:5000/sluice-test/judged/hello}
environments:
  production: {namespace: %s, strategy: blue-green}
approval: {approvers: {users: [alice, bob]}}
production:
  manifests: deploy/k8s
  grace: 5s
` + errorRate("15s")

// errorRate is production.analysis judging the sample by the share of 5xx
// answers of the release's own pods over 20 s, from delay after traffic
// moves, every 5 s, four rounds: two failed put the previous release
// back, three without 20 requests behind them ask the approvers.
func errorRate(delay string) string {
	return `  analysis:
    delay: ` + delay + `
    interval: 5s
    count: 4
    failure-limit: 1
    inconclusive-limit: 2
    metrics:
      - name: error-rate
        query: (sum(rate(hello_requests_total{namespace="{{namespace}}",pod=~"{{pods}}",code=~"5.."}[20s])) or vector(0)) / sum(rate(hello_requests_total{namespace="{{namespace}}",pod=~"{{pods}}"}[20s]))
        success: "< 0.05"
        samples: sum(increase(hello_requests_total{namespace="{{namespace}}",pod=~"{{pods}}"}[20s]))
        min-samples: 20
`
}

// TestReleaseAnalysisOnThePlatform releases five versions of the sample
// while the test sends it traffic, judged by the platform's Prometheus.
// Blue-green: a good one passes its analysis and stays; one that answers
// 500 to 10 % of requests fails it, and traffic is back on the first
// version's color within the failure limit's measurements (the times and
// the failed requests users saw are logged). Then as canaries, in a
// namespace of their own: a first release that gets no traffic is
// inconclusive, waits for the approvers, and stays once bob approves; a
// bad canary is aborted at its first step's analysis, nothing of it left;
// a good one goes through three steps and is promoted. Every measured
// value is in the run's outputs and log.
func TestReleaseAnalysisOnThePlatform(t *testing.T) {
	p := testenv.Require(t)
	e := newEnv(t)
	_, client := p.Connect(t)
	ctx := context.Background()
	prod := fmt.Sprintf("judged-prod-%d", time.Now().UnixNano()%1_000_000_000)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prod}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), prod, metav1.DeleteOptions{}) })
	repo, _ := gitsrctest.Repo(t, "../../examples/hello", fmt.Sprintf(judgedSpec, prod))
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`repositories:
  - {name: acme/judged, provider: github, clone_url: %q, webhook_secret: {env: JUDGED_HOOK}}
prometheus: {url: %q}
`, repo, p.PrometheusURL)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JUDGED_HOOK", "judged-hook-secret-value")
	e.startDev("--config", cfg, "--kubeconfig", p.Kubeconfig, "--buildkit-addr", p.BuildKitAddr, "--registry", p.Registry)
	users := startTraffic(t, client, prod)

	// v1: good, with traffic: four measurements within the limits
	first := e.releaseJudged("v1")
	if a := first.Outputs.Analysis; a == nil || a.Verdict != contract.AnalysisPassed || a.Taken != 4 || passedWithValues(a) < 2 {
		t.Fatalf("v1's analysis: %+v", first.Outputs.Analysis)
	}
	e.servesColor(client, prod, "blue", first.Outputs.Digest)
	logs, _, _ := e.sluice("logs", first.RunID)
	for _, want := range []string{"production | analysis: Prometheus accepts the queries of 1 metric(s)", "production | analysis 4/4: error-rate = 0 (", "production | analysis passed: 4 rounds within the limits"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("v1's log lacks %q:\n%s", want, grepLines(logs, "production"))
		}
	}

	// v2: every tenth request to / answers 500
	edit(t, repo, "main.go", "var FailEvery int64\n", "var FailEvery int64 = 10\n")
	gitsrctest.Commit(t, repo, "v2: fails every tenth request")
	watch := watchColor(t, client, prod)
	bad := e.releaseJudged("v2")
	a := bad.Outputs.Analysis
	if bad.State != "failed" || !strings.Contains(bad.Error, "analysis failed: error-rate failed 2 of ") || a == nil || a.Verdict != contract.AnalysisFailed {
		t.Fatalf("v2: %s %q %+v", bad.State, bad.Error, a)
	}
	firstFailed := time.Time{}
	for _, m := range a.Measurements {
		if m.Outcome == contract.AnalysisFailed {
			if m.Value == nil || *m.Value < 0.05 || *m.Value > 0.2 {
				t.Errorf("v2's failed measurement %s: want an error rate near 0.1", m)
			}
			if firstFailed.IsZero() {
				firstFailed = m.At
			}
		}
	}
	e.servesColor(client, prod, "blue", first.Outputs.Digest)
	green, back := watch()
	if green.IsZero() || back.IsZero() {
		t.Fatalf("traffic never went to green and back to blue (%v, %v)", green, back)
	}
	// traffic is back on blue within the failure limit's second
	// measurement (5 s) and the undo, counted from the first failure
	if d := back.Sub(firstFailed); d > 20*time.Second {
		t.Errorf("traffic back on blue %s after the first failed measurement", d)
	}
	seen, failed := users.between(green, back)
	t.Logf("blue-green with analysis, 10%% bad: traffic on the bad version for %s, %d of %d requests failed; back on blue %s after the first failed measurement",
		back.Sub(green).Round(100*time.Millisecond), failed, seen, back.Sub(firstFailed).Round(100*time.Millisecond))
	out, _, _ := e.sluice("releases", "-f", filepath.Join(repo, ".sluice.yml"), "--kubeconfig", p.Kubeconfig)
	if !regexp.MustCompile(`(?m)^v2\s+rolled-back\s+.*analysis failed: error-rate failed 2 of `).MatchString(out) || !regexp.MustCompile(`(?m)^v1\s+live\s+`).MatchString(out) {
		t.Fatalf("sluice releases after the failed analysis:\n%s", out)
	}
	if _, err := client.AppsV1().Deployments(prod).Get(ctx, "hello-green", metav1.GetOptions{}); err == nil {
		t.Fatal("the failed release's color is still there")
	}

	// Canary, in a namespace of its own with four pods to share: v3 is
	// its first release (nothing to be a canary beside), good again but
	// nobody sends it a request: inconclusive, never a pass; bob keeps it
	canaryNS := prod + "-canary"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: canaryNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), canaryNS, metav1.DeleteOptions{})
	})
	edit(t, repo, ".sluice.yml", "production: {namespace: "+prod+", strategy: blue-green}", "production: {namespace: "+canaryNS+", strategy: canary}")
	edit(t, repo, ".sluice.yml", "  grace: 5s\n", "  canary:\n    steps: [{weight: 25, analysis: true}, {weight: 50, pause: 2s}, {weight: 75, pause: 2s}]\n")
	edit(t, repo, "deploy/k8s/hello.yaml", "replicas: 2 ", "replicas: 4 ")
	edit(t, repo, "main.go", "var FailEvery int64 = 10\n", "var FailEvery int64\n")
	edit(t, repo, "main.go", `Version = "1"`, `Version = "3"`)
	gitsrctest.Commit(t, repo, "v3, released as canaries")
	users.pause()
	run := e.startJudged()
	e.approve(run, "alice")
	var st judgedStatus
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		st = judgedStatus{}
		if e.json(&st, "status", run) == 0 && st.Approval != nil && strings.HasPrefix(st.Approval.For, "inconclusive analysis: error-rate was inconclusive 3 of 3 times") {
			break
		}
		if st.State == "failed" || st.State == "succeeded" {
			break
		}
	}
	if st.State != "awaiting_approval" || st.Approval == nil || !strings.Contains(st.Approval.For, "fewer samples than 20") {
		t.Fatalf("v3 without traffic: %s %q %+v", st.State, st.Error, st.Approval)
	}
	e.approve(run, "bob")
	st = e.waitJudged(run)
	if st.State != "succeeded" || st.Outputs.Analysis.Verdict != contract.AnalysisInconclusive {
		t.Fatalf("v3 after bob's decision: %s %q", st.State, st.Error)
	}
	stable := st.Outputs.Digest
	users.to(canaryNS)

	// v4: bad again, as a canary: aborted at its first step's analysis;
	// the stable Deployment is back at four pods, nothing of the canary
	// is left
	edit(t, repo, "main.go", "var FailEvery int64\n", "var FailEvery int64 = 10\n")
	gitsrctest.Commit(t, repo, "v4: fails every tenth request")
	bad = e.releaseJudged("v4 (canary)")
	if bad.State != "failed" || !strings.Contains(bad.Error, "analysis failed: error-rate failed 2 of ") {
		t.Fatalf("v4: %s %q", bad.State, bad.Error)
	}
	if d, err := client.AppsV1().Deployments(canaryNS).Get(ctx, "hello", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 4 || !strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, "@"+stable) {
		t.Fatalf("the stable deployment after the aborted canary: %v", err)
	}
	if _, err := client.AppsV1().Deployments(canaryNS).Get(ctx, "hello-canary", metav1.GetOptions{}); err == nil {
		t.Fatal("the aborted canary is still there")
	}
	logs, _, _ = e.sluice("logs", bad.RunID)
	if !strings.Contains(logs, "production | canary weight 25%: deployment/hello-canary 1 pod(s), deployment/hello 3 (25% of the pods)") {
		t.Fatalf("v4's log:\n%s", grepLines(logs, "production"))
	}

	// v5: good, with traffic: three steps, then promoted
	edit(t, repo, "main.go", "var FailEvery int64 = 10\n", "var FailEvery int64\n")
	edit(t, repo, "main.go", `Version = "3"`, `Version = "5"`)
	gitsrctest.Commit(t, repo, "v5")
	good := e.releaseJudged("v5 (canary)")
	if good.State != "succeeded" || good.Outputs.Canary != "promoted after 3 step(s)" || good.Outputs.Analysis.Verdict != contract.AnalysisPassed {
		t.Fatalf("v5: %s %q %q", good.State, good.Error, good.Outputs.Canary)
	}
	if d, err := client.AppsV1().Deployments(canaryNS).Get(ctx, "hello", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 4 || !strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, "@"+good.Outputs.Digest) {
		t.Fatalf("the stable deployment after the promotion: %v", err)
	}
	logs, _, _ = e.sluice("logs", good.RunID)
	for _, want := range []string{"canary weight 50%: deployment/hello-canary 2 pod(s), deployment/hello 2", "canary weight 75%: deployment/hello-canary 3 pod(s), deployment/hello 1", "canary promoted: release v"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("v5's log lacks %q:\n%s", want, grepLines(logs, "production"))
		}
	}
}

// judgedStatus is what the test reads of `sluice status`.
type judgedStatus struct {
	RunID   string `json:"run_id"`
	State   string `json:"state"`
	Error   string `json:"error"`
	Outputs struct {
		Digest   string                   `json:"digest"`
		Canary   string                   `json:"canary"`
		Analysis *contract.AnalysisResult `json:"analysis"`
	} `json:"outputs"`
	Approval *struct {
		For string `json:"for"`
	} `json:"approval"`
}

func (e *env) startJudged() string {
	e.t.Helper()
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", "acme/judged", "--ref", "main"); code != 0 {
		_, errOut, _ := e.sluice("run", "--repo", "acme/judged", "--ref", "main")
		e.t.Fatalf("run did not start: %s", errOut)
	}
	e.waitStateOr(started.RunID, "awaiting_approval", "failed", 5*time.Minute)
	return started.RunID
}

func (e *env) approve(run, as string) {
	e.t.Helper()
	if out, errOut, code := e.sluice("approve", run, "--as", as); code != 0 {
		e.t.Fatalf("approve as %s: %s %s", as, out, errOut)
	}
}

// waitJudged waits for the run to end.
func (e *env) waitJudged(run string) judgedStatus {
	e.t.Helper()
	var st judgedStatus
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		st = judgedStatus{}
		if e.json(&st, "status", run) == 0 && (st.State == "succeeded" || st.State == "failed") {
			return st
		}
	}
	e.t.Fatalf("run %s did not end: %+v", run, st)
	return st
}

// releaseJudged runs main's head to its end, approved by alice.
func (e *env) releaseJudged(what string) judgedStatus {
	e.t.Helper()
	run := e.startJudged()
	e.approve(run, "alice")
	st := e.waitJudged(run)
	e.t.Logf("%s: %s %s", what, st.State, st.Error)
	return st
}

func passedWithValues(a *contract.AnalysisResult) int {
	n := 0
	for _, m := range a.Measurements {
		if m.Outcome == contract.AnalysisPassed && m.Value != nil && m.Samples != nil && *m.Samples >= 20 {
			n++
		}
	}
	return n
}

// servesColor checks that Service hello of ns selects color, whose
// Deployment runs digest.
func (e *env) servesColor(client kubernetes.Interface, ns, color, digest string) {
	e.t.Helper()
	ctx := context.Background()
	svc, err := client.CoreV1().Services(ns).Get(ctx, "hello", metav1.GetOptions{})
	if err != nil || svc.Spec.Selector["sluice.dev/color"] != color {
		e.t.Fatalf("service hello in %s: %v %v, want color %s", ns, svc.Spec.Selector, err, color)
	}
	d, err := client.AppsV1().Deployments(ns).Get(ctx, "hello-"+color, metav1.GetOptions{})
	if err != nil || !strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, "@"+digest) {
		e.t.Fatalf("deployment hello-%s: %v, want %s", color, err, digest)
	}
}

func edit(t testing.TB, repo, file, old, new string) {
	t.Helper()
	path := filepath.Join(repo, file)
	src, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(src, []byte(old)) {
		t.Fatalf("%s lacks %q (%v)", file, old, err)
	}
	if err := os.WriteFile(path, bytes.Replace(src, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// watchColor notes when Service hello of ns first selects green and when
// it selects blue again after that; the returned func stops watching.
func watchColor(t *testing.T, client kubernetes.Interface, ns string) func() (green, back time.Time) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var green, back time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil && back.IsZero() {
			if svc, err := client.CoreV1().Services(ns).Get(ctx, "hello", metav1.GetOptions{}); err == nil {
				switch c := svc.Spec.Selector["sluice.dev/color"]; {
				case c == "green" && green.IsZero():
					green = time.Now()
				case c == "blue" && !green.IsZero():
					back = time.Now()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(cancel)
	return func() (time.Time, time.Time) {
		cancel()
		<-done
		return green, back
	}
}

// traffic is what users of the sample saw: one request to / every 40 ms
// (a new connection each, so kube-proxy balances them), once its Service
// exists.
type traffic struct {
	mu      sync.Mutex
	at      []time.Time
	failed  []bool
	stopped atomic.Bool
	ns      atomic.Pointer[string]
}

func startTraffic(t testing.TB, client kubernetes.Interface, ns string) *traffic {
	tr := &traffic{}
	tr.ns.Store(&ns)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		url, target := "", ns
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if tr.stopped.Load() {
				continue
			}
			if now := *tr.ns.Load(); now != target {
				url, target = "", now
			}
			if url == "" {
				svc, err := client.CoreV1().Services(target).Get(ctx, "hello", metav1.GetOptions{})
				if err != nil || svc.Spec.ClusterIP == "" {
					continue
				}
				url = "http://" + svc.Spec.ClusterIP + "/"
			}
			go func(at time.Time) {
				resp, err := hc.Get(url)
				bad := err != nil || resp.StatusCode >= 500
				if err == nil {
					resp.Body.Close()
				}
				tr.mu.Lock()
				tr.at, tr.failed = append(tr.at, at), append(tr.failed, bad)
				tr.mu.Unlock()
			}(time.Now())
		}
	}()
	return tr
}

// pause stops the traffic; to resumes it, to ns's Service.
func (tr *traffic) pause() { tr.stopped.Store(true) }

func (tr *traffic) to(ns string) {
	tr.ns.Store(&ns)
	tr.stopped.Store(false)
}

// between counts the requests sent in [from, to) and those that failed.
func (tr *traffic) between(from, to time.Time) (seen, failed int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i, at := range tr.at {
		if !at.Before(from) && at.Before(to) {
			seen++
			if tr.failed[i] {
				failed++
			}
		}
	}
	return seen, failed
}
