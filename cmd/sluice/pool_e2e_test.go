package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chromedp/chromedp"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/workflows"
)

// poolEnv is a Sluice installation whose configuration declares a "go"
// pool on the local platform, in a namespace of the test's own.
type poolEnv struct {
	*env
	config, kubeconfig, ns string
	client                 kubernetes.Interface
	platform               *testenv.Platform
}

func newPoolEnv(t testing.TB) *poolEnv {
	p := testenv.Require(t)
	e := &poolEnv{env: newEnv(t), platform: p, kubeconfig: p.Kubeconfig, ns: fmt.Sprintf("sluice-e2e-pool-%d", time.Now().UnixNano()%1_000_000_000)}
	_, e.client = p.Connect(t)
	t.Cleanup(func() { _ = e.client.CoreV1().Namespaces().Delete(context.Background(), e.ns, metav1.DeleteOptions{}) })
	e.config = filepath.Join(t.TempDir(), "sluice.yml")
	cfg := fmt.Sprintf(`pools:
  - name: go
    image: %s/sluice/go-builder:latest
    namespace: %s
    min_idle: 1
    max_total: 3
    cache: {host_path: /var/cache/sluice-e2e-pool, paths: [/root/.cache/go-build, /root/go/pkg/mod]}
`, p.Registry, e.ns)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// podsOfRun are the pool pods a run holds.
func (e *poolEnv) podsOfRun(run string) []string {
	list, err := e.client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "sluice.dev/pool=go"})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		if p.Annotations["sluice.dev/run"] == run && p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	return out
}

// TestSamplePipelineOnThePlatform runs the sample app's own spec on the
// local platform: build and test in a warm pod of the "go" pool (the log
// shows the pod's hostname; the pod goes back when test passes, before the
// approval wait), bake with BuildKit (pushed by digest, tagged with the
// commit), deploy to the run's own namespace (the baked digest rolled out),
// the integration Job against it, promote (the tested digest tagged
// "available"), approval, and production blue-green: the first release
// goes live in blue; a second push's release is verified in green beside
// it, traffic switches, blue is retired after the grace period; `sluice
// rollback` brings the first release back. The test namespaces are gone
// when the runs end.
func TestSamplePipelineOnThePlatform(t *testing.T) {
	e := newPoolEnv(t)
	ctx := context.Background()
	prod, spec := e.sampleProduction("-prod")
	// the build, integration and verify read a pipeline secret of the
	// server's project from a Kubernetes Secret
	secret := e.newSampleSecret()
	repo, _ := gitsrctest.Repo(t, "../../examples/hello", string(secret.spec(t, spec)))
	commit := secret.manifests(t, repo)
	e.defineSampleSecret(secret, prod, repo)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.startDev("--config", e.config, "--kubeconfig", e.kubeconfig, "--vulnerability-db", "../../examples/vulndb",
		"--buildkit-addr", e.platform.BuildKitAddr, "--registry", e.platform.Registry, "--metrics-addr", metricsAddr)
	secret.refusedOnFeatureBranch(e, repo)

	first := e.runToApproval(sampleRepo)
	// the pool's claim and pods are in the worker's metrics
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scraped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`(?m)^sluice_pool_claim_seconds_count\{outcome="claimed",pool="go"\} [1-9]`, `(?m)^sluice_pool_pods\{pool="go",state="idle"\} \d`} {
		if !regexp.MustCompile(want).Match(scraped) {
			t.Fatalf("metrics lack %s:\n%s", want, grepLines(string(scraped), "sluice_pool"))
		}
	}
	logs, _, _ := e.sluice("logs", first.id)
	for _, want := range []string{"build | sluice-go-", "test | ok  \texample.com/hello", "bake | pushed 127.0.0.1:5000/sluice-demo/hello@sha256:", "bake | signed 127.0.0.1:5000/sluice-demo/hello@sha256:", "bake | SBOM attested: ",
		"deploy | deployment/hello available", "integration | hello, integration",
		"promote | scanned ", "TEST-GO-0001: Go standard library "} { // found (low) and passed under max-severity medium
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	if held := e.podsOfRun(first.runID); len(held) != 0 {
		t.Fatalf("the run still holds pods %v while it waits for approval", held)
	}
	for _, tag := range []string{commit, "available"} {
		if got, err := image.Digest(ctx, "127.0.0.1:5000/sluice-demo/hello", tag); err != nil || got != first.digest {
			t.Fatalf("tag %s = %s %v, want the run's digest %s", tag, got, err, first.digest)
		}
	}
	// signed for its commit with the worker's key; sluice verify says so
	pub := filepath.Join(e.dataDir, "signing.key.pub")
	out, errOut, code := e.sluice("verify", "127.0.0.1:5000/sluice-demo/hello@"+first.digest, "--key", pub, "--commit", commit)
	if code != 0 || !strings.Contains(out, "for commit "+commit) || !strings.Contains(out, "SBOM (SPDX 2.3, signed)") || !strings.Contains(out, "  example.com/hello") ||
		!strings.Contains(out, "test result (in-toto test-result, signed): PASSED") {
		t.Fatalf("sluice verify (signature, SBOM, the integration suite's test result): %d %s %s", code, out, errOut)
	}
	if _, _, code := e.sluice("verify", "127.0.0.1:5000/sluice-demo/hello@"+first.digest, "--key", pub, "--commit", strings.Repeat("0", 40)); code == 0 {
		t.Fatal("sluice verify accepted the digest for another commit")
	}
	// replicated to the production registry, signature included
	if got, err := image.Digest(ctx, e.platform.ProdRegistry+"/sluice-demo/hello", "available"); err != nil || got != first.digest {
		t.Fatalf("replica tag available = %s %v", got, err)
	}
	if out, errOut, code := e.sluice("verify", e.platform.ProdRegistry+"/sluice-demo/hello@"+first.digest, "--key", pub, "--commit", commit); code != 0 || !strings.Contains(out, "SBOM (SPDX 2.3, signed)") || !strings.Contains(out, "test result (in-toto test-result, signed): PASSED") {
		t.Fatalf("the replica (with its SBOM) does not verify: %s %s", out, errOut)
	}
	out, _, code = e.sluice("pool", "list", "--config", e.config, "--kubeconfig", e.kubeconfig)
	if code != 0 || !strings.Contains(out, "go") || !strings.Contains(out, e.ns) {
		t.Fatalf("pool list: %d\n%s", code, out)
	}
	env := workflows.TestNamespace("hello", first.runID)
	t.Cleanup(func() { _ = e.client.CoreV1().Namespaces().Delete(context.Background(), env, metav1.DeleteOptions{}) })
	d, err := e.client.AppsV1().Deployments(env).Get(ctx, "hello", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != "127.0.0.1:5000/sluice-demo/hello@"+first.digest {
		t.Fatalf("the test environment %s while the run waits: %v %v", env, d, err)
	}
	e.approveAndFinish(first.id)
	if ns, err := e.client.CoreV1().Namespaces().Get(ctx, env, metav1.GetOptions{}); err == nil && ns.DeletionTimestamp == nil {
		t.Fatalf("the test environment %s outlived the run", env)
	}
	logs, _, _ = e.sluice("logs", first.id)
	for _, want := range []string{"production | release v1: " + commit, "production | hello, production", "production | traffic switched to blue", "production | release v1 is live"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	e.routesTo(prod, "blue", first.digest)
	secret.checkRun(e, first.id, prod)

	// A second push: released in green beside blue, verified, switched.
	main := filepath.Join(repo, "main.go")
	src, _ := os.ReadFile(main)
	if err := os.WriteFile(main, bytes.Replace(src, []byte(`Version = "1"`), []byte(`Version = "2"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	second := gitsrctest.Commit(t, repo, "version 2")
	next := e.runToApproval(sampleRepo)
	if next.digest == first.digest {
		t.Fatal("the second commit baked the same image")
	}
	// approved from the console (single-user dev mode: the page asks
	// who), which follows the release until production is live
	browser := browser(t)
	base := "http://127.0.0.1:" + strconv.Itoa(e.http)
	token, _ := os.ReadFile(filepath.Join(e.dataDir, "api-token"))
	consoleSignIn(t, browser, base, strings.TrimSpace(string(token)), "dev")
	shots := screenshots(t)
	do(t, browser, "the pools page", chromedp.Navigate(base+"/pools"),
		until(`[...document.querySelectorAll("#pools tbody tr")].some(r => r.cells[0].textContent == "go" && r.cells[1].textContent == `+strconv.Quote(e.ns)+`)`, 10*time.Second))
	shoot(t, browser, shots, "pools")
	do(t, browser, "approve v2 from the console",
		chromedp.Navigate(base+"/run?id="+url.QueryEscape(next.id)),
		until(`document.getElementById("approve") != null`, 30*time.Second),
		chromedp.SendKeys(chromedp.ID("as"), "alice"),
		chromedp.Click(chromedp.ID("approve")),
		until(`document.getElementById("flash") && document.getElementById("flash").textContent.includes("Approved as alice")`, 10*time.Second),
		until(`document.getElementById("state").textContent == "succeeded"`, 3*time.Minute),
		until(`document.getElementById("status").textContent.includes("Production release")`, 10*time.Second),
		until(`document.getElementById("log").textContent.includes("production | release v2 is live")`, 30*time.Second))
	shoot(t, browser, shots, "run-production")
	for _, v := range []string{secret.value, secret.fileValue} {
		if strings.Contains(pageHTML(t, browser), v) {
			t.Fatal("a secret's value is on the run's console page")
		}
	}
	e.waitState(next.id, "succeeded", 10*time.Second)
	e.routesTo(prod, "green", next.digest)
	blue, err := e.client.AppsV1().Deployments(prod).Get(ctx, "hello-blue", metav1.GetOptions{})
	if err != nil || *blue.Spec.Replicas != 0 {
		t.Fatalf("blue was not retired after the grace period: %v", err)
	}
	out, errOut, code = e.sluice("releases", "-f", filepath.Join(repo, ".sluice.yml"), "--kubeconfig", e.kubeconfig)
	if code != 0 || !regexp.MustCompile(`(?m)^v2\s+live\s+blue-green \(green\)\s+`+second[:12]).MatchString(out) ||
		!regexp.MustCompile(`(?m)^v1\s+superseded\s+blue-green \(blue\)\s+`+commit[:12]).MatchString(out) {
		t.Fatalf("sluice releases: %d\n%s%s", code, out, errOut)
	}

	// sluice rollback asks the server for a Rollback run, which records
	// who asked and why; without a reason it is refused.
	if _, errOut, code := e.sluice("rollback", "-f", filepath.Join(repo, ".sluice.yml")); code == 0 || !strings.Contains(errOut, "reason") {
		t.Fatalf("rollback without a reason: %d %s", code, errOut)
	}
	// The first release comes back as v3, in blue, asked from the
	// console's environments page; the worker checks its image still
	// carries the installation's signature for its commit.
	hello := `form.rollback:has(input[type=hidden][name=pipeline][value=hello]) `
	do(t, browser, "roll back from the console",
		// a run's record is final once its old color is retired (grace)
		untilReloaded(base+"/environments", `document.querySelector(".live-release") && document.querySelector(".live-release").textContent == "2"`, time.Minute),
		chromedp.SendKeys(chromedp.CSS(hello+`input[name=reason]`), "v2 misbehaves"),
		chromedp.Click(chromedp.CSS(hello+`input[name=confirm]`)))
	shoot(t, browser, shots, "environments-releases")
	do(t, browser, "the rollback's page",
		chromedp.Click(chromedp.CSS(hello+`button`)),
		until(`document.getElementById("flash") && document.getElementById("flash").textContent.includes("Rollback started as API token dev")`, 10*time.Second),
		until(`document.getElementById("state").textContent == "succeeded"`, 3*time.Minute),
		until(`document.getElementById("status").textContent.includes("release 1 live again as release 3")`, 10*time.Second))
	shoot(t, browser, shots, "rollback-production")
	out, _, _ = e.sluice("releases", "-f", filepath.Join(repo, ".sluice.yml"), "--kubeconfig", e.kubeconfig)
	if !regexp.MustCompile(`(?m)^v3\s+live\s+.*rollback to v1 by API token dev`).MatchString(out) {
		t.Fatalf("sluice releases after the rollback:\n%s", out)
	}
	e.routesTo(prod, "blue", first.digest)

	// the four DORA keys from the records: two releases, both live, the
	// second rolled back while live (the rollback's record follows its
	// end, and a run's final record follows its final commit status, after
	// its state says succeeded): one failure in two, restored in the time
	// the rollback took
	var keys []records.Keys
	poll.Until(t, "sluice dora to count both releases and the rollback", func() bool {
		keys = nil
		return e.json(&keys, "dora") == 0 && len(keys) == 1 && keys[0].Failures == 1 && keys[0].Releases == 2
	})
	if k := keys[0]; k.Releases != 2 || k.Deployments != 2 || k.ChangeFailureRate != 0.5 || k.LeadTime <= 0 || k.TimeToRestore <= 0 || k.TimeToRestore > 10*time.Minute {
		t.Errorf("sluice dora: %+v", k)
	}
}

// sampleProduction makes a production namespace of the test's own (removed
// when the test ends) and returns it with the sample's spec releasing there.
func (e *poolEnv) sampleProduction(suffix string) (string, []byte) {
	e.t.Helper()
	prod := e.ns + suffix
	if _, err := e.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prod}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = e.client.CoreV1().Namespaces().Delete(context.Background(), prod, metav1.DeleteOptions{}) })
	spec, err := os.ReadFile("../../examples/hello/.sluice.yml")
	if err != nil {
		e.t.Fatal(err)
	}
	return prod, bytes.Replace(spec, []byte("namespace: sluice-demo-hello"), []byte("namespace: "+prod), 1)
}

// sampleRun is a run of the sample app waiting for approval.
type sampleRun struct {
	id, runID, digest string
}

// runToApproval starts a run of repo's main and waits for its approval gate.
func (e *poolEnv) runToApproval(repo string) sampleRun {
	e.t.Helper()
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		e.t.Fatal("run failed to start")
	}
	e.waitState(started.RunID, "awaiting_approval", 5*time.Minute)
	var st struct {
		Outputs struct {
			Digest string `json:"digest"`
			Chaos  string `json:"chaos_summary"`
		} `json:"outputs"`
	}
	if e.json(&st, "status", started.RunID) != 0 || !strings.HasPrefix(st.Outputs.Digest, "sha256:") {
		e.t.Fatalf("no digest in the run's outputs: %+v", st)
	}
	// the sample's chaos phase killed a pod of its test environment, then
	// drained the node of one, and the SLO held
	if !strings.HasPrefix(st.Outputs.Chaos, "2 experiment(s) passed: pod-kill (") || !strings.Contains(st.Outputs.Chaos, "node-drain (") {
		e.t.Fatalf("the chaos phase did not pass the sample's experiments (pod kill, node drain): %+v", st)
	}
	return sampleRun{id: started.RunID, runID: started.RunID[strings.LastIndex(started.RunID, "@")+1:], digest: st.Outputs.Digest}
}

func (e *poolEnv) approveAndFinish(run string) {
	e.t.Helper()
	if out, errOut, code := e.sluice("approve", run, "--as", "alice"); code != 0 {
		e.t.Fatalf("approve: %s %s", out, errOut)
	}
	e.waitState(run, "succeeded", 2*time.Minute)
}

// routesTo checks that the Service hello of ns selects color and that
// color's Deployment runs digest.
func (e *poolEnv) routesTo(ns, color, digest string) {
	e.t.Helper()
	ctx := context.Background()
	svc, err := e.client.CoreV1().Services(ns).Get(ctx, "hello", metav1.GetOptions{})
	if err != nil || svc.Spec.Selector["sluice.dev/color"] != color {
		e.t.Fatalf("service hello in %s: %v %v, want color %s", ns, svc.Spec.Selector, err, color)
	}
	d, err := e.client.AppsV1().Deployments(ns).Get(ctx, "hello-"+color, metav1.GetOptions{})
	// production pulls the replica promote made in the production registry
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != e.platform.ProdRegistry+"/sluice-demo/hello@"+digest || d.Status.AvailableReplicas < 1 {
		e.t.Fatalf("deployment hello-%s: %v", color, err)
	}
}

// TestWorkerCrashResumesInTheSamePod kills the worker with SIGKILL while a
// build command runs in a pool pod. The next worker continues in the same
// pod while the claim's lease holds: the finished command is not run again,
// the interrupted one is (after the lost attempt's processes are ended).
func TestWorkerCrashResumesInTheSamePod(t *testing.T) {
	e := newPoolEnv(t)
	e.startDev("--worker=false")
	spec := `version: 1
build:
  pool: go
  commands:
    - echo one | tee -a /tmp/attempts
    - echo two | tee -a /tmp/attempts && sleep 4 && echo built > built.txt
    - hostname && cat /tmp/attempts && test -f built.txt
`
	repo, _ := gitsrctest.Repo(t, "../../examples/hello", spec)
	workerArgs := []string{"worker", "--data-dir", e.dataDir, "--step-home", stepHome, "--config", e.config, "--kubeconfig", e.kubeconfig}
	w1 := e.start(workerArgs...)
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		t.Fatal("run failed to start")
	}
	poll.Until(t, "the second command to run", func() bool {
		logs, _, _ := e.sluice("logs", started.RunID)
		return strings.Contains(logs, "build | two") // running in the pod

	})
	runID := started.RunID[strings.LastIndex(started.RunID, "@")+1:]
	before := e.podsOfRun(runID)
	w1.kill(syscall.SIGKILL)
	e.start(workerArgs...)
	out, _, code := e.sluice("status", started.RunID, "--wait")
	if code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("run did not complete after the worker restart (code %d):\n%s", code, out)
	}
	logs, _, _ := e.sluice("logs", started.RunID)
	if len(before) != 1 || !strings.Contains(logs, "build | "+before[0]) {
		t.Fatalf("want the build to end in pod %v:\n%s", before, logs)
	}
	// "one": its command's output and the final cat, once each; "two": the
	// interrupted command's output twice and twice in the cat
	if strings.Count(logs, "build | one") != 2 || strings.Count(logs, "build | two") != 4 {
		t.Fatalf("want the finished command once and the interrupted one twice:\n%s", logs)
	}
}

// TestSampleRollingRelease runs the sample app with a rolling production:
// the approved digest (pulled from the production registry) replaces the
// Deployment in place after its verify passed, recorded as release v1.
func TestSampleRollingRelease(t *testing.T) {
	e := newPoolEnv(t)
	ctx := context.Background()
	prod, spec := e.sampleProduction("-rolling")
	spec = bytes.Replace(spec, []byte("strategy: blue-green"), []byte("strategy: rolling"), 1)
	e.startDev("--config", e.config, "--kubeconfig", e.kubeconfig, "--vulnerability-db", "../../examples/vulndb",
		"--buildkit-addr", e.platform.BuildKitAddr, "--registry", e.platform.Registry)
	repo, commit := gitsrctest.Repo(t, "../../examples/hello", string(spec))
	run := e.runToApproval(repo)
	e.approveAndFinish(run.id)
	d, err := e.client.AppsV1().Deployments(prod).Get(ctx, "hello", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != e.platform.ProdRegistry+"/sluice-demo/hello@"+run.digest || d.Status.AvailableReplicas < 1 {
		t.Fatalf("the rolling release's deployment: %v", err)
	}
	logs, _, _ := e.sluice("logs", run.id)
	for _, want := range []string{"production | release v1: " + commit, "(rolling; first release)", "production | hello, production", "production | release v1 is live"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	out, errOut, code := e.sluice("releases", "hello", "-f", filepath.Join(repo, ".sluice.yml"), "--kubeconfig", e.kubeconfig)
	if code != 0 || !regexp.MustCompile(`(?m)^v1\s+live\s+rolling\s+`+commit[:12]+`.*\balice\b`).MatchString(out) {
		t.Fatalf("sluice releases: %d\n%s%s", code, out, errOut)
	}
}

// TestPoolSizingNeedsItsProjectsAdmin: on a server with projects, `sluice
// pool resize` goes through the server and only the admin of the pool's
// project may size it; every other role of that project, and the admin of
// another, is refused with the pool unchanged. The size is set by a
// PoolSize run on the worker, which records who asked.
func TestPoolSizingNeedsItsProjectsAdmin(t *testing.T) {
	e := newPoolEnv(t)
	dir := t.TempDir()
	tokens := map[string]string{}
	var lines strings.Builder
	for _, role := range access.Roles {
		tokens[role] = role + "-pool-token-0123456789"
		fmt.Fprintf(&lines, "  - {name: %s, token: {file: %q}, roles: {payments: [%s]}}\n", role, writeToken(t, dir, role, tokens[role]), role)
	}
	tokens["other admin"] = "search-admin-token-0123456789"
	fmt.Fprintf(&lines, "  - {name: search-admin, token: {file: %q}, roles: {search: [admin]}}\n", writeToken(t, dir, "search-admin", tokens["other admin"]))
	cfg := fmt.Sprintf(`repositories:
  - {name: acme/pay, provider: github, clone_url: /nonexistent/pay, webhook_secret: {env: HOOK}}
  - {name: acme/search, provider: github, clone_url: /nonexistent/search, webhook_secret: {env: HOOK}}
projects:
  - {name: payments, repositories: [acme/pay]}
  - {name: search, repositories: [acme/search]}
pools:
  - {name: go, project: payments, image: %s/sluice/go-builder:latest, namespace: %s, min_idle: 0, max_total: 2}
api_tokens:
%s`, e.platform.Registry, e.ns, lines.String())
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOK", "pool-sizing-webhook-secret")
	e.startDev("--config", e.config, "--kubeconfig", e.kubeconfig)
	minMax := func() string {
		t.Helper()
		out, errOut, code := e.sluice("pool", "list", "--config", e.config, "--kubeconfig", e.kubeconfig)
		if code != 0 {
			t.Fatalf("pool list: %d %s", code, errOut)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 5 && f[0] == "go" {
				return f[5]
			}
		}
		t.Fatalf("pool list has no pool go:\n%s", out)
		return ""
	}
	for who, token := range tokens {
		if who == access.Admin {
			continue
		}
		_, errOut, code := e.sluice("pool", "resize", "go", "--min", "1", "--token", token)
		if code == 0 || !strings.Contains(errOut, "no role that may pool resize in project payments") {
			t.Errorf("%s's resize: %d %s", who, code, errOut)
		}
	}
	if got := minMax(); got != "0/2" {
		t.Fatalf("after refused resizes the pool is %s, want 0/2", got)
	}
	out, errOut, code := e.sluice("pool", "resize", "go", "--min", "1", "--token", tokens[access.Admin])
	if code != 0 || !strings.Contains(out, "min idle 1 (run pool/go@") || !strings.Contains(out, "by API token admin") {
		t.Fatalf("the admin's resize: %d %s %s", code, out, errOut)
	}
	if got := minMax(); got != "1/2" {
		t.Fatalf("after the admin's resize the pool is %s, want 1/2", got)
	}
	if _, errOut, code := e.sluice("pool", "resize", "go", "--min", "3", "--token", tokens[access.Admin]); code == 0 || !strings.Contains(errOut, "outside 0..2") {
		t.Fatalf("a size beyond max_total: %d %s", code, errOut)
	}
}

func writeToken(t *testing.T, dir, name, token string) string {
	t.Helper()
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}
