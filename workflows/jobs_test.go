package workflows

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

func jobsInput(t *testing.T, test string) PipelineInput {
	t.Helper()
	src := "version: 1\nname: hello\nbuild: {pool: go, commands: [make]}\ntest:\n" + test + "bake: {image: 127.0.0.1:5000/acme/hello}\n"
	s, err := pipelines.Parse(".sluice.yml", []byte(src), "hello")
	if err != nil {
		t.Fatal(err)
	}
	return input(*s)
}

const jobsDAG = `  env: {A: phase, B: phase}
  jobs:
    lint: {commands: [vet]}
    unit:
      env: {B: job}
      commands: [go test]
      matrix: {axes: {go: ["1.25", "1.26"], arch: [amd64, arm64]}}
    race: {needs: [unit], commands: [go test -race], pool: big}
`

func (h *harness) cellNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, c := range h.cells {
		out = append(out, c.Job)
	}
	return out
}

// TestJobsRunSideBySideAsTheirNeedsAllow: lint and the four unit cells run
// at once, each in a workspace of its own; race starts only when every
// unit cell has passed.
func TestJobsRunSideBySideAsTheirNeedsAllow(t *testing.T) {
	h := newHarness(t)
	h.hold = map[string]bool{}
	for _, c := range []string{"lint", "unit (arch=amd64, go=1.25)", "unit (arch=amd64, go=1.26)", "unit (arch=arm64, go=1.25)", "unit (arch=arm64, go=1.26)", "race"} {
		h.hold["Cell:"+c] = true
	}
	h.env.ExecuteWorkflow(Pipeline, jobsInput(t, jobsDAG))
	st, err := h.result(t)
	if err != nil {
		t.Fatal(err)
	}
	names := h.cellNames()
	if len(names) != 6 || names[5] != "race" {
		t.Fatalf("cells ran as %q; race must be last", names)
	}
	if h.maxHolding < 2 {
		t.Errorf("at most %d cells ran at once: jobs must run side by side", h.maxHolding)
	}
	keys := map[string]bool{}
	for _, c := range h.cells {
		keys[c.Cell] = true
		switch {
		case c.Job == "race":
			if c.Pool != "big" || c.Env["A"] != "phase" {
				t.Errorf("race: pool %q env %v", c.Pool, c.Env)
			}
		case strings.HasPrefix(c.Job, "unit"):
			if c.Pool != "go" || c.Env["B"] != "job" || c.Env["MATRIX_GO"] == "" || c.Env["MATRIX_ARCH"] == "" || c.Env["SLUICE_COMMIT"] == "" {
				t.Errorf("%s: pool %q env %v", c.Job, c.Pool, c.Env)
			}
			if !strings.Contains(c.Job, "go="+c.Env["MATRIX_GO"]) {
				t.Errorf("%s got MATRIX_GO=%s", c.Job, c.Env["MATRIX_GO"])
			}
		}
	}
	if len(keys) != 6 {
		t.Errorf("cells share workspaces: keys %v", keys)
	}
	if len(st.Jobs) != 6 || slices.ContainsFunc(st.Jobs, func(j JobState) bool { return j.Status != PhaseSucceeded }) {
		t.Errorf("jobs %+v", st.Jobs)
	}
	if !strings.HasPrefix(st.Outputs.TestSummary, "6 job cells passed") {
		t.Errorf("summary %q", st.Outputs.TestSummary)
	}
	if !slices.Contains(h.Calls(), "Bake") {
		t.Errorf("bake did not follow the jobs: %v", h.Calls())
	}
}

const jobsSix = `  fail-fast: false
  jobs:
    unit:
      commands: [go test]
      matrix: {axes: {os: [linux, darwin, windows], arch: [amd64, arm64]}}
    race: {needs: [unit], commands: [go test -race]}
    lint: {commands: [vet]}
`

// TestFailedCellFailsTheRunNamingItAndRetryRunsOnlyIt: of a matrix of six
// one cell fails; the phase fails naming it, the job that needs it is
// skipped, and the retry runs that cell and what depends on it, nothing
// that passed.
func TestFailedCellFailsTheRunNamingItAndRetryRunsOnlyIt(t *testing.T) {
	const bad = "unit (arch=arm64, os=windows)"
	h := newHarness(t)
	h.cell = func(_ context.Context, in contract.StepsInput) error {
		if in.Job == bad {
			return temporal.NewNonRetryableApplicationError(`command "go test" exited with status 1`, contract.ErrStepFailed, nil)
		}
		return nil
	}
	h.env.ExecuteWorkflow(Pipeline, jobsInput(t, jobsSix))
	st, err := h.result(t)
	if err == nil {
		t.Fatal("the run passed with a failing cell")
	}
	if ps := st.PhaseByName(pipelines.PhaseTest); ps.Status != PhaseFailed || !strings.Contains(ps.Error, "job "+bad+" failed: command \"go test\" exited with status 1") {
		t.Fatalf("test phase %+v", ps)
	}
	if n := len(h.cellNames()); n != 7 {
		t.Errorf("%d cells ran, want the six of unit and lint: %q", n, h.cellNames())
	}
	byName := map[string]JobState{}
	for _, j := range st.Jobs {
		byName[j.Name] = j
	}
	if j := byName["race"]; j.Status != JobSkipped || !strings.Contains(j.Error, "needs job unit") {
		t.Errorf("race %+v", j)
	}
	if j := byName[bad]; j.Status != PhaseFailed {
		t.Errorf("%s %+v", bad, j)
	}
	if len(st.Outputs.Passed) != 6 {
		t.Errorf("passed %v", st.Outputs.Passed)
	}
	if slices.Contains(h.Calls(), "Bake") {
		t.Error("bake ran after a failed test")
	}

	// the retry, as `sluice retry` makes it
	retry := newHarness(t)
	in := jobsInput(t, jobsSix)
	in.Resume = &Resume{FromRun: "run-1", Phase: pipelines.PhaseTest, Outputs: OutputsBefore(pipelines.PhaseTest, st.Outputs)}
	retry.env.ExecuteWorkflow(Pipeline, in)
	st2, err := retry.result(t)
	if err != nil {
		t.Fatal(err)
	}
	if got := retry.cellNames(); !slices.Equal(got, []string{bad, "race"}) {
		t.Fatalf("retry ran %q; want only the failed cell and what needs it", got)
	}
	reused := 0
	for _, j := range st2.Jobs {
		if j.Status == PhaseReused {
			reused++
		}
	}
	if reused != 6 {
		t.Errorf("%d cells reused, want 6: %+v", reused, st2.Jobs)
	}
}

// TestFailFastCancelsTheRunningCells: by default the first failed cell
// cancels the others and starts nothing more.
func TestFailFastCancelsTheRunningCells(t *testing.T) {
	h := newHarness(t)
	h.cell = func(ctx context.Context, in contract.StepsInput) error {
		if in.Job == "lint" {
			return temporal.NewNonRetryableApplicationError("vet found problems", contract.ErrStepFailed, nil)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return nil
		}
	}
	h.env.ExecuteWorkflow(Pipeline, jobsInput(t, jobsDAG))
	st, err := h.result(t)
	if err == nil {
		t.Fatal("the run passed with a failing cell")
	}
	for _, j := range st.Jobs {
		want := PhaseCancelled
		switch j.Name {
		case "lint":
			want = PhaseFailed
		case "race":
			want = JobSkipped
		}
		if j.Status != want {
			t.Errorf("%s is %s (%s), want %s", j.Name, j.Status, j.Error, want)
		}
	}
	if slices.Contains(h.cellNames(), "race") {
		t.Error("race started after a fail-fast failure")
	}
}

// TestJobArtifactsReachWhatNeedsThem: the artifacts every cell of a job
// kept are fetched by the jobs that need it (and only by them), and bake
// gets all of them; a retry still hands on those of cells that passed
// before.
func TestJobArtifactsReachWhatNeedsThem(t *testing.T) {
	spec := `  jobs:
    dist:
      commands: [make dist]
      artifacts: [dist]
      matrix: {axes: {arch: [amd64, arm64]}}
    smoke: {needs: [dist], commands: [./smoke]}
    lint: {commands: [vet]}
`
	h := newHarness(t)
	h.env.ExecuteWorkflow(Pipeline, jobsInput(t, spec))
	st, err := h.result(t)
	if err != nil {
		t.Fatal(err)
	}
	fetched := map[string][]string{}
	for _, c := range h.cells {
		fetched[c.Job] = c.Fetch
	}
	want := []string{"127.0.0.1:5000/sluice-artifacts/acme/hello@sha256:dist-0", "127.0.0.1:5000/sluice-artifacts/acme/hello@sha256:dist-1"}
	if !slices.Equal(fetched["smoke"], want) || len(fetched["lint"]) != 0 || len(fetched["dist (arch=amd64)"]) != 0 {
		t.Fatalf("fetched %v", fetched)
	}
	if b := h.input("Bake").(contract.BakeInput); !slices.Equal(b.JobArtifacts, want) {
		t.Fatalf("bake got %v", b.JobArtifacts)
	}
	// a retry at bake hands on what the jobs kept
	retry := newHarness(t)
	in := jobsInput(t, spec)
	in.Resume = &Resume{FromRun: "run-1", Phase: pipelines.PhaseBake, Outputs: OutputsBefore(pipelines.PhaseBake, st.Outputs)}
	retry.env.ExecuteWorkflow(Pipeline, in)
	if _, err := retry.result(t); err != nil {
		t.Fatal(err)
	}
	if b := retry.input("Bake").(contract.BakeInput); !slices.Equal(b.JobArtifacts, want) {
		t.Fatalf("the retry's bake got %v", b.JobArtifacts)
	}
}

// TestBuildJobs: build may be jobs too; what they keep reaches test —
// its commands run in a checkout of their own with the build jobs'
// artifacts unpacked — and bake.
func TestBuildJobs(t *testing.T) {
	src := "version: 1\nname: hello\nbuild:\n  pool: go\n  jobs:\n    compile:\n      matrix: {axes: {arch: [amd64, arm64]}}\n      commands: [make]\n      artifacts: [dist]\n    vet: {commands: [vet]}\n" +
		"test: {commands: [make test]}\nbake: {image: 127.0.0.1:5000/acme/hello}\n"
	s, err := pipelines.Parse(".sluice.yml", []byte(src), "hello")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	h.env.ExecuteWorkflow(Pipeline, input(*s))
	st, err := h.result(t)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:5000/sluice-artifacts/acme/hello@sha256:compile-0", "127.0.0.1:5000/sluice-artifacts/acme/hello@sha256:compile-1"}
	test := h.input("Run:test").(contract.StepsInput)
	if !slices.Equal(test.Fetch, want) || !test.Workspace.IsZero() {
		t.Fatalf("test got fetch %v, workspace %v", test.Fetch, test.Workspace)
	}
	if b := h.input("Bake").(contract.BakeInput); !slices.Equal(b.JobArtifacts, want) {
		t.Fatalf("bake got %v", b.JobArtifacts)
	}
	if len(st.Jobs) != 3 || st.Jobs[0].Phase != pipelines.PhaseBuild || st.Outputs.Passed["build/vet"] == "" {
		t.Fatalf("jobs %+v passed %v", st.Jobs, st.Outputs.Passed)
	}
	for _, c := range h.cells {
		if c.Phase != pipelines.PhaseBuild || c.Pool != "go" {
			t.Errorf("cell %s: phase %s pool %s", c.Job, c.Phase, c.Pool)
		}
	}
}
