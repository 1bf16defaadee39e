package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/pool"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/workflows"
)

// jobsStatus is what `sluice status -o json` says of a run's jobs.
type jobsStatus struct {
	State  string                 `json:"state"`
	Phases []workflows.PhaseState `json:"phases"`
	Jobs   []workflows.JobState   `json:"jobs"`
}

// pipelineRun is a finished run of a pipeline of the repository: its id,
// its final status, its log and the status command's exit code.
type pipelineRun struct {
	id, status, logs string
	code             int
}

// runPipeline starts pipeline at ref with `sluice run` and waits for it to
// end.
func (e *poolEnv) runPipeline(repo, ref, pipeline string) pipelineRun {
	e.t.Helper()
	out, errOut, code := e.sluice("run", "--repo", repo, "--ref", ref, "--pipeline", pipeline, "--output", "json")
	var started struct {
		RunID string `json:"run_id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &started) != nil {
		e.t.Fatalf("%s at %s did not start (%d): %s%s", pipeline, ref, code, out, errOut)
	}
	r := pipelineRun{id: started.RunID}
	r.status, _, r.code = e.sluice("status", started.RunID, "--wait")
	r.logs, _, _ = e.sluice("logs", started.RunID)
	return r
}

// TestJobsRunSideBySideInPoolPods runs examples/monorepo's api pipeline
// with its build in the "go" pool: vet and the 2×2 matrix of unit tests run
// at once, each cell in a pool pod of its own, and shuffle after every
// unit cell. Then a matrix of six with one cell failing (until a marker on
// the pool's cache volume exists) fails naming the cell, and `sluice retry`
// runs only that cell; the five that passed are reused.
// jobsSetup is a Sluice installation with a "go" pool of four idle pods
// (at most six) and the platform's registry, and a copy of
// examples/monorepo whose api pipeline builds in the pool, beside a
// pipeline "matrix": six cells, one of which fails until the marker exists
// on the pool's cache volume, and a pipeline "cache" (jobsCacheSpec).
func jobsSetup(t testing.TB) (*poolEnv, string) {
	e := newPoolEnv(t)
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	// a pod for most cells at once
	cfg = []byte(strings.Replace(string(cfg), "min_idle: 1\n    max_total: 3", "min_idle: 4\n    max_total: 6", 1))
	if err := os.WriteFile(e.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	repo, _ := gitsrctest.Repo(t, "../../examples/monorepo", "")
	api := filepath.Join(repo, ".sluice", "api.yml")
	spec, err := os.ReadFile(api)
	if err != nil {
		t.Fatal(err)
	}
	nonce := fmt.Sprintf("jobs-%d", time.Now().UnixNano())
	marker := "/root/.cache/go-build/sluice-e2e-" + nonce
	matrix := fmt.Sprintf(`version: 1
build:
  pool: go
  commands: [go build ./lib/...]
test:
  fail-fast: false
  jobs:
    unit:
      matrix:
        axes: {pkg: [lib, services/api, services/web], amd64: [v1, v2]}
      commands:
        - hostname
        - if [ "$MATRIX_PKG/$MATRIX_AMD64" = services/web/v2 ] && [ ! -f %[1]s ]; then touch %[1]s; echo first try fails; exit 3; fi
        - test -d "$MATRIX_PKG" && echo "$MATRIX_PKG $MATRIX_AMD64 ok"
`, marker)
	for name, text := range map[string]string{
		"api.yml":    strings.Replace(string(spec), "build:\n", "build:\n  pool: go\n", 1),
		"matrix.yml": matrix,
		"cache.yml":  jobsCacheSpec,
		"dist.yml":   jobsDistSpec,
		"bdist.yml":  jobsBuildDistSpec,
		"svc.yml":    fmt.Sprintf(jobsServiceSpec, e.platform.Registry),
	} {
		if err := os.WriteFile(filepath.Join(repo, ".sluice", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitsrctest.Commit(t, repo, "jobs in the go pool")
	if err := os.WriteFile(filepath.Join(repo, "Dockerfile.dist"), []byte("FROM scratch\nCOPY dist/amd64/api /api\nENTRYPOINT [\"/api\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitsrctest.Commit(t, repo, "a Dockerfile of the dist job's binary")
	e.startDev("--config", e.config, "--kubeconfig", e.kubeconfig, "--registry", e.platform.Registry, "--buildkit-addr", e.platform.BuildKitAddr)
	return e, repo
}

func TestJobsRunSideBySideInPoolPods(t *testing.T) {
	e, repo := jobsSetup(t)

	// the example's jobs, side by side
	r := e.runPipeline(repo, "main", "api")
	if r.code != 0 {
		t.Fatalf("the api pipeline failed:\n%s\n%s", r.status, r.logs)
	}
	var st jobsStatus
	e.json(&st, "status", r.id)
	var names []string
	for _, j := range st.Jobs {
		names = append(names, j.Name)
		if j.Status != workflows.PhaseSucceeded {
			t.Errorf("%s is %s: %s", j.Name, j.Status, j.Error)
		}
	}
	want := []string{"shuffle", "unit (amd64=v1, pkg=services/api)", "unit (amd64=v1, pkg=lib)", "unit (amd64=v2, pkg=services/api)", "unit (amd64=v2, pkg=lib)", "vet"}
	if !slices.Equal(names, want) {
		t.Fatalf("jobs %q, want %q", names, want)
	}
	// shuffle after every unit cell; the unit cells and vet overlap
	shuffle, longest := st.Jobs[0], time.Duration(0)
	overlap := 0
	for _, j := range st.Jobs[1:] {
		if shuffle.Started.Before(j.Finished) && strings.HasPrefix(j.Name, "unit") {
			t.Errorf("shuffle started at %s, before %s finished at %s", shuffle.Started, j.Name, j.Finished)
		}
		for _, k := range st.Jobs[1:] {
			if j.Name < k.Name && j.Started.Before(k.Finished) && k.Started.Before(j.Finished) {
				overlap++
			}
		}
		longest = max(longest, j.Finished.Sub(j.Started))
	}
	if overlap == 0 {
		t.Errorf("no two cells ran at the same time: %+v", st.Jobs)
	}
	for _, p := range st.Phases {
		if p.Name == "test" {
			t.Logf("test phase %s; longest first-stage cell %s; shuffle %s; %d overlapping pairs",
				p.Finished.Sub(p.Started), longest, shuffle.Finished.Sub(shuffle.Started), overlap)
		}
	}
	for _, w := range want {
		if !strings.Contains(r.logs, "test "+w+" | ok") {
			t.Errorf("log lacks the passing tests of %s:\n%s", w, r.logs)
		}
	}

	// a matrix of six, one cell failing
	r = e.runPipeline(repo, "main", "matrix")
	const bad = "unit (amd64=v2, pkg=services/web)"
	if r.code == 0 || !strings.Contains(r.status, "job "+bad+" failed: command") || !strings.Contains(r.status, "exited with status 3") {
		t.Fatalf("want the run to fail naming %s:\n%s", bad, r.status)
	}
	logs := r.logs
	pods := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^test unit \([^)]*\) \| (sluice-go-\S+)$`).FindAllStringSubmatch(logs, -1) {
		pods[m[1]] = true
	}
	if len(pods) != 6 {
		t.Errorf("the six cells ran in %d pods (%v), want one each:\n%s", len(pods), pods, logs)
	}
	var retry struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&retry, "retry", r.id); code != 0 {
		t.Fatal("retry refused")
	}
	retried := retry.RunID
	if out, _, code := e.sluice("status", retried, "--wait"); code != 0 {
		t.Fatalf("the retry failed:\n%s", out)
	}
	e.json(&st, "status", retried)
	reused := 0
	for _, j := range st.Jobs {
		switch {
		case j.Name == bad && j.Status != workflows.PhaseSucceeded:
			t.Errorf("%s is %s in the retry", j.Name, j.Status)
		case j.Status == workflows.PhaseReused:
			reused++
		}
	}
	logs, _, _ = e.sluice("logs", retried)
	if reused != 5 || strings.Count(logs, "$ hostname") != 1 || !strings.Contains(logs, "test "+bad+" | $ hostname") {
		t.Fatalf("want the retry to run only %s (%d reused):\n%s", bad, reused, logs)
	}
}

// jobsCacheSpec's one job keeps a directory, keyed on go.mod; what it
// restores is the file an earlier run wrote.
const jobsCacheSpec = `version: 1
test:
  jobs:
    unit:
      pool: go
      cache: {key: [go.mod], paths: [.cache/go-build]}
      commands:
        - mkdir -p .cache/go-build && cat .cache/go-build/stamp 2>/dev/null; date > .cache/go-build/stamp
`

// TestJobCacheFollowsItsLockfile: a job's cache misses on its first run
// and is saved, hits on the next run of the branch, misses again once
// go.mod (its key) changed, and is never restored on another branch.
// Counted from each run's log.
func TestJobCacheFollowsItsLockfile(t *testing.T) {
	e, repo := jobsSetup(t)
	run := func(ref string) (hit, miss, saved int, logs string) {
		t.Helper()
		r := e.runPipeline(repo, ref, "cache")
		if r.code != 0 {
			t.Fatalf("run failed:\n%s\n%s", r.status, r.logs)
		}
		logs = r.logs
		return strings.Count(logs, "test unit | cache hit"), strings.Count(logs, "test unit | cache miss"), strings.Count(logs, "test unit | cache saved"), logs
	}
	check := func(what string, hit, miss, saved int, logs string, wantHit, wantMiss, wantSaved int) {
		t.Helper()
		if hit != wantHit || miss != wantMiss || saved != wantSaved {
			t.Fatalf("%s: %d hits, %d misses, %d saved; want %d, %d, %d:\n%s", what, hit, miss, saved, wantHit, wantMiss, wantSaved, logs)
		}
	}
	// the platform's registry outlives the test: a key of this test's own
	mod := filepath.Join(repo, "go.mod")
	b, err := os.ReadFile(mod)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mod, fmt.Appendf(b, "\n// %s\n", t.Name()+time.Now().Format(time.RFC3339Nano)), 0o644); err != nil {
		t.Fatal(err)
	}
	gitsrctest.Commit(t, repo, "a key of this test's own")
	h, m, s, logs := run("main")
	check("first run", h, m, s, logs, 0, 1, 1)
	h, m, s, logs = run("main")
	check("second run", h, m, s, logs, 1, 0, 0)
	if !strings.Contains(logs, "restored") {
		t.Fatalf("a hit that restored nothing:\n%s", logs)
	}
	if b, err = os.ReadFile(mod); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mod, append(b, "\n// the key changes\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	gitsrctest.Commit(t, repo, "go.mod changed")
	h, m, s, logs = run("main")
	check("after go.mod changed", h, m, s, logs, 0, 1, 1)
	gitsrctest.Git(t, repo, "branch", "feature/x")
	h, m, s, logs = run("feature/x")
	check("another branch", h, m, s, logs, 0, 1, 1)
}

// jobsDistSpec builds the api service for two architectures, each cell
// keeping its binary; smoke needs them, and bake copies one into the image.
const jobsDistSpec = `version: 1
test:
  jobs:
    dist:
      pool: go
      matrix: {axes: {arch: [amd64, arm64]}}
      commands: ["mkdir -p dist/$MATRIX_ARCH && CGO_ENABLED=0 GOARCH=$MATRIX_ARCH go build -o dist/$MATRIX_ARCH/api ./services/api"]
      artifacts: [dist]
    smoke:
      pool: go
      needs: [dist]
      commands: ["ls dist/amd64/api dist/arm64/api"]
bake:
  image: 127.0.0.1:5000/sluice-e2e/dist
  dockerfile: Dockerfile.dist
`

// jobsBuildDistSpec is jobsDistSpec's work as build's jobs: test's
// commands find both binaries in a checkout of their own.
const jobsBuildDistSpec = `version: 1
build:
  pool: go
  jobs:
    dist:
      matrix: {axes: {arch: [amd64, arm64]}}
      commands: ["mkdir -p dist/$MATRIX_ARCH && CGO_ENABLED=0 GOARCH=$MATRIX_ARCH go build -o dist/$MATRIX_ARCH/api ./services/api"]
      artifacts: [dist]
test:
  commands: ["ls dist/amd64/api dist/arm64/api"]
bake:
  image: 127.0.0.1:5000/sluice-e2e/dist
  dockerfile: Dockerfile.dist
`

// TestJobArtifactsReachNeedsAndBake: each cell of a matrix keeps what it
// built; the job that needs them finds both cells' files at their paths in
// its own checkout, and bake's Dockerfile copies one into the image. The
// same as build's jobs: test's commands find them.
func TestJobArtifactsReachNeedsAndBake(t *testing.T) {
	e, repo := jobsSetup(t)
	for pipeline, wants := range map[string][]string{
		"dist": {"test dist (arch=amd64) | artifacts dist kept as 127.0.0.1:5000/sluice-artifacts/",
			"test smoke | dist/amd64/api", "test smoke | dist/arm64/api"},
		// build's jobs: test runs in a checkout of its own with them
		"bdist": {"build dist (arch=arm64) | artifacts dist kept as 127.0.0.1:5000/sluice-artifacts/",
			"test | dist/amd64/api", "test | dist/arm64/api"},
	} {
		r := e.runPipeline(repo, "main", pipeline)
		logs := r.logs
		if r.code != 0 {
			t.Fatalf("%s failed:\n%s\n%s", pipeline, r.status, logs)
		}
		for _, want := range append(wants,
			"bake | job artifacts [dist/amd64/api] added to the context", "bake | job artifacts [dist/arm64/api] added to the context",
			"bake | pushed 127.0.0.1:5000/sluice-e2e/dist@sha256:") {
			if !strings.Contains(logs, want) {
				t.Errorf("%s: log lacks %q", pipeline, want)
			}
		}
		if t.Failed() {
			t.Fatal(logs)
		}
	}
}

// jobsServiceSpec's job talks to a Redis started beside its pod.
const jobsServiceSpec = `version: 1
test:
  jobs:
    unit:
      pool: go
      services: [{name: redis, image: %s/sluice/redis:latest, ports: [6379]}]
      commands:
        - for i in 1 2 3 4 5; do printf 'PING\r\n' | nc -w 2 "$REDIS_HOST" "$REDIS_PORT" | grep PONG && exit 0; sleep 1; done; exit 1
`

// TestJobServicesBesideTheJobPod: a job's service runs beside its pod —
// the commands reach it at $REDIS_HOST:$REDIS_PORT — and is gone with the
// pod once the job is done.
func TestJobServicesBesideTheJobPod(t *testing.T) {
	e, repo := jobsSetup(t)
	r := e.runPipeline(repo, "main", "svc")
	if r.code != 0 || !strings.Contains(r.logs, "test unit | service redis ready at redis-") || !strings.Contains(r.logs, "test unit | +PONG") {
		t.Fatalf("the job did not reach its service (%d):\n%s\n%s", r.code, r.status, r.logs)
	}
	poll.Until(t, "the job's service to go with its pod", func() bool {
		pods, err := e.client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: pool.LabelJobService})
		svcs, err2 := e.client.CoreV1().Services(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: pool.LabelJobService})
		return err == nil && err2 == nil && len(pods.Items) == 0 && len(svcs.Items) == 0
	})
}
