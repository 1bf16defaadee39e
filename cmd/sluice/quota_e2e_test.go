package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestProjectQuota: project a may run 2 runs at once, project b 2. Eight
// pushes of a (on eight branches) and then two of b, run by two `sluice
// worker` processes of which one is killed with SIGKILL twice while runs
// hold slots and others wait (and started again). a never runs more than
// 2 at once (its builds' spans, each from its first start to its last end,
// never overlap by more than 2) and does run 2 at once; its waiting runs
// say where they stand; b's runs start while a's backlog still waits;
// all ten succeed.
func TestProjectQuota(t *testing.T) {
	e := newEnv(t)
	// the builds (as the step user when the test runs as root) append to it
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(dir, "trace")
	spec := func(project string, secs int) string {
		return fmt.Sprintf(`version: 1
name: %s
build:
  commands:
    - 'echo "start $SLUICE_BRANCH_MARK $(date +%%s%%N)" >> %s'
    - sleep %d
    - 'echo "end $SLUICE_BRANCH_MARK $(date +%%s%%N)" >> %s'
`, project, trace, secs, trace)
	}
	repoA, _ := gitsrctest.Repo(t, "../../examples/hello", spec("a", 4))
	repoB, _ := gitsrctest.Repo(t, "../../examples/hello", spec("b", 1))
	var branches []string
	for i := 1; i <= 8; i++ {
		branches = append(branches, fmt.Sprintf("a%d", i))
	}
	for _, b := range append(slices.Clone(branches), "b1", "b2") {
		repo := repoA
		if strings.HasPrefix(b, "b") {
			repo = repoB
		}
		// each branch's commit marks its trace lines
		if out, err := exec.Command("git", "-C", repo, "checkout", "-q", "-B", b, "main").CombinedOutput(); err != nil {
			t.Fatalf("git: %v %s", err, out)
		}
		specFile := filepath.Join(repo, ".sluice.yml")
		s, _ := os.ReadFile(specFile)
		if err := os.WriteFile(specFile, []byte(strings.ReplaceAll(string(s), "$SLUICE_BRANCH_MARK", b)), 0o644); err != nil {
			t.Fatal(err)
		}
		gitsrctest.Commit(t, repo, "branch "+b)
	}
	cfg := filepath.Join(t.TempDir(), "sluice.yml")
	t.Setenv("SLUICE_TEST_HOOK", "quota-webhook-secret-0123")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`repositories:
  - {name: acme/a, provider: github, clone_url: %q, webhook_secret: {env: SLUICE_TEST_HOOK}}
  - {name: acme/b, provider: github, clone_url: %q, webhook_secret: {env: SLUICE_TEST_HOOK}}
projects:
  - {name: a, repositories: [acme/a], quota: {runs: 2}}
  - {name: b, repositories: [acme/b], quota: {runs: 2}}
`, repoA, repoB)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startDev("--config", cfg, "--worker=false")
	workerArgs := []string{"worker", "--data-dir", e.dataDir}
	workers := []*proc{e.start(workerArgs...), e.start(workerArgs...)}

	start := func(repo, branch string) string {
		var started struct {
			RunID string `json:"run_id"`
		}
		if code := e.json(&started, "run", "--repo", repo, "--ref", branch); code != 0 {
			_, errOut, _ := e.sluice("run", "--repo", repo, "--ref", branch)
			t.Fatalf("run %s %s: %s", repo, branch, errOut)
		}
		return started.RunID
	}
	var runsA []string
	for _, b := range branches {
		runsA = append(runsA, start("acme/a", b))
	}
	runsB := []string{start("acme/b", "b1"), start("acme/b", "b2")}

	// the last of a's runs waits, and says so
	var last string
	for deadline := time.Now().Add(time.Minute); !strings.Contains(last, " of project a (2 running, limit 2)"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a's last run does not say it is queued:\n%s", last)
		}
		last, _, _ = e.sluice("status", runsA[7])
	}
	// kill a worker twice while a's runs hold slots and others wait
	for round := range 2 {
		poll.Until(t, "a run of a to be building", func() bool { return len(spans(t, trace)) > 2*round })
		workers[0].kill(syscall.SIGKILL)
		workers[0] = e.start(workerArgs...)
	}
	for _, id := range append(slices.Clone(runsA), runsB...) {
		e.waitStateOr(id, "succeeded", "failed", 3*time.Minute)
	}

	sp := spans(t, trace)
	var a, b []span
	for name, s := range sp {
		if strings.HasPrefix(name, "a") {
			a = append(a, s)
		} else {
			b = append(b, s)
		}
	}
	if len(a) != 8 || len(b) != 2 {
		t.Fatalf("spans %v", sp)
	}
	if most := mostAtOnce(a); most != 2 {
		t.Errorf("project a ran %d runs at once; its quota is 2", most)
	}
	// b's runs started while a still had runs waiting: before a's last
	// pair (a's first pair starts at once, each later pair 4 s on)
	var startsA []int64
	for _, s := range a {
		startsA = append(startsA, s.start)
	}
	slices.Sort(startsA)
	for _, s := range b {
		if s.start > startsA[6] {
			t.Errorf("a run of b started after a's seventh run: b waited for a's backlog")
		}
	}
}

// span is a run's build, from its first start to its last end (a build
// interrupted by a killed worker starts again).
type span struct{ start, end int64 }

// spans reads the trace the builds write: "start|end BRANCH NANOS".
func spans(t *testing.T, file string) map[string]span {
	t.Helper()
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]span{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		ns, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			continue
		}
		s := out[fields[1]]
		switch fields[0] {
		case "start":
			if s.start == 0 || ns < s.start {
				s.start = ns
			}
		case "end":
			s.end = max(s.end, ns)
		}
		out[fields[1]] = s
	}
	return out
}

// mostAtOnce is the most spans that overlap at one moment.
func mostAtOnce(spans []span) int {
	most := 0
	for _, s := range spans {
		n := 0
		for _, o := range spans {
			if o.start <= s.start && s.start < o.end {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}
