package activities

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/sluice-cd/sluice/attempt"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/secrets"
)

// Steps runs build and test commands through an executor and streams their
// output to the run's log.
type Steps struct {
	// Exec runs the steps of specs that name no pool.
	Exec executor.Executor
	// Pools are the executors of the warm pools a spec can name (build.pool).
	Pools map[string]executor.Executor
	Logs  *logstore.Store
	// CacheRegistry keeps jobs' caches (the worker's --registry); empty:
	// jobs run without them.
	CacheRegistry string
	// Secrets reads the pipeline secrets a phase names.
	Secrets *secrets.Reader
	// HeartbeatEvery is the heartbeat interval while a command runs. Default 2s.
	HeartbeatEvery time.Duration
	// record sends a heartbeat; activity.RecordHeartbeat unless a test
	// wants to see what is sent before the SDK throttles it.
	record func(ctx context.Context, details ...any)
}

func (s *Steps) recordHeartbeat(ctx context.Context, p stepsProgress) {
	if s.record != nil {
		s.record(ctx, p)
		return
	}
	activity.RecordHeartbeat(ctx, p)
}

// stepsProgress is the heartbeat detail: a retried attempt on the same
// workspace skips the commands an earlier attempt finished.
type stepsProgress struct {
	Workspace contract.Workspace    `json:"workspace"`
	Done      []contract.StepResult `json:"done"`
}

// progress is the running attempt's stepsProgress, shared by the command
// loop and the heartbeat ticker, so every heartbeat carries the latest.
type progress struct {
	mu sync.Mutex
	p  stepsProgress
}

func (g *progress) snapshot() stepsProgress {
	g.mu.Lock()
	defer g.mu.Unlock()
	return stepsProgress{Workspace: g.p.Workspace, Done: slices.Clone(g.p.Done)}
}

func (g *progress) finished(step contract.StepResult) stepsProgress {
	g.mu.Lock()
	g.p.Done = append(g.p.Done, step)
	g.mu.Unlock()
	return g.snapshot()
}

// Run prepares the workspace and runs the commands in order; the first
// failing command fails the phase (non-retryable StepFailed).
func (s *Steps) Run(ctx context.Context, in contract.StepsInput) (_ contract.StepsResult, err error) {
	defer classify(&err)
	if in.RunID == "" || len(in.Commands) == 0 {
		return contract.StepsResult{}, invalid("steps need a run id and at least one command")
	}
	exec, err := s.executor(in.Pool)
	if err != nil {
		return contract.StepsResult{}, err
	}
	values, err := s.Secrets.Read(ctx, in.Secrets)
	if err != nil {
		return contract.StepsResult{}, err
	}
	logs, secretEnv, secretFiles := s.Logs.WithSecrets(secrets.Plain(values)), secrets.Env(values), secrets.Files(values)
	var prog stepsProgress
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &prog)
	}
	existing := in.Workspace
	if existing.Kind != exec.Kind() {
		existing = contract.Workspace{}
	}
	key, prefix := in.RunID, in.Phase
	if in.Cell != "" {
		key, prefix = in.RunID+"."+in.Cell, in.Phase+" "+in.Job
	}
	log, err := logs.Writer(in.RunID, prefix)
	if err != nil {
		return contract.StepsResult{}, err
	}
	defer log.Close()
	handle, err := exec.Prepare(ctx, executor.Checkout{Key: key, CloneURL: in.Source.CloneURL, Commit: in.Source.Commit, Merge: in.Source.Merge,
		Project: in.Project, Share: in.PoolShare, Waiting: func(why string) { fmt.Fprintln(log, why) }}, existing)
	if err != nil {
		if errors.Is(err, gitsrc.ErrNotFound) || errors.Is(err, gitsrc.ErrBadCommit) || errors.Is(err, gitsrc.ErrMergeConflict) {
			return contract.StepsResult{}, err // the commit cannot be had: its own words
		}
		return contract.StepsResult{}, fmt.Errorf("prepare workspace: %w", err)
	}
	if prog.Workspace != handle {
		prog = stepsProgress{Workspace: handle}
	}
	if len(prog.Done) > 0 {
		fmt.Fprintf(log, "resuming after %d finished commands (worker restart)\n", len(prog.Done))
	}

	if in.Cell != "" {
		// a cell's workspace is its own: nothing after the cell reads it,
		// so it goes once the cell has an outcome (not when its worker
		// is lost: the retried attempt resumes in it)
		defer func() {
			if err == nil || ctx.Err() != nil || errors.Is(err, errStepFailed) {
				s.releaseCell(ctx, exec, handle, log)
			}
		}()
	}
	logger := attempt.Logger(ctx).With("phase", in.Phase)
	if handle.Pod != "" {
		logger = logger.With("pod", handle.Pod)
	}
	// heartbeats start once the workspace is there: the first one (which
	// Temporal's client sends at once, later ones throttled) carries the
	// first finished command, so a worker lost after it resumes past it
	g := &progress{p: prog}
	stop := s.heartbeat(ctx, g)
	defer stop()
	res := contract.StepsResult{Workspace: handle, Steps: slices.Clone(prog.Done)}
	env := in.Env
	if len(in.Services) > 0 {
		if env, err = s.startServices(ctx, exec, handle, in, log); err != nil {
			return contract.StepsResult{}, err
		}
	}
	if len(in.Fetch) > 0 && len(prog.Done) == 0 {
		if err := s.fetchJobArtifacts(ctx, exec, handle, in.Fetch, log); err != nil {
			return res, err
		}
	}
	var cacheRepo, cacheTag string
	if in.Cache != nil && len(prog.Done) == 0 {
		var hit bool
		if cacheRepo, cacheTag, hit = s.restoreCache(ctx, exec, handle, in.Cache, log); hit {
			res.Cache, cacheTag = contract.CacheHit, ""
		} else if cacheTag != "" {
			res.Cache = contract.CacheMiss
		}
	}
	var output bytes.Buffer
	for i := len(prog.Done); i < len(in.Commands); i++ {
		script := in.Commands[i]
		fmt.Fprintf(log, "$ %s\n", script)
		r, err := exec.Run(ctx, handle, executor.Command{Script: script, Env: env, Secrets: secretEnv, SecretFiles: secretFiles, Timeout: in.Timeout}, multi(log, &capped{b: &output}))
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(log, "cancelled")
				return res, ctx.Err()
			}
			return res, fmt.Errorf("run %q: %w", script, err)
		}
		step := contract.StepResult{Command: script, ExitCode: r.ExitCode, Duration: r.Duration}
		res.Steps = append(res.Steps, step)
		// the command's text stays in the run's log, which redacts secrets
		logger.Info("step finished", "step", i+1, "exit_code", r.ExitCode, "timed_out", r.TimedOut, "duration", r.Duration)
		switch {
		case r.TimedOut:
			fmt.Fprintf(log, "timed out after %s\n", in.Timeout)
			return res, stepFailed("command %q timed out after %s", script, in.Timeout)
		case r.ExitCode != 0:
			fmt.Fprintf(log, "exit status %d\n", r.ExitCode)
			return res, stepFailed("command %q exited with status %d", script, r.ExitCode)
		}
		fmt.Fprintf(log, "ok (%s)\n", r.Duration.Round(time.Millisecond))
		s.recordHeartbeat(ctx, g.finished(step))
	}
	if cacheTag != "" && s.saveCache(ctx, exec, handle, in.Cache, cacheRepo, cacheTag, log) {
		res.Cache = contract.CacheSaved
	}
	res.Summary = summarize(res.Steps, output.Bytes())
	if res.Cache != "" {
		res.Summary += "; cache " + res.Cache
	}
	if in.JUnit != "" {
		res.Summary += "; " + junitReport(ctx, exec, handle, in.JUnit)
	}
	// the summary goes into the run's history: no secret, in any form
	res.Summary = string(logs.Redact([]byte(res.Summary)))
	if len(in.Artifacts) > 0 && in.Cell != "" {
		if res.Artifacts, err = s.keepJobArtifacts(ctx, exec, handle, in, log); err != nil {
			return res, err
		}
	} else if len(in.Artifacts) > 0 {
		ref, err := pushArtifacts(ctx, exec, handle, in)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(log, "artifacts %v pushed as %s\n", in.Artifacts, ref)
		res.Artifacts = ref
	}
	return res, nil
}

// releaseCell gives a job cell's workspace back, even when the cell was
// cancelled; a failed release is logged, and the pod's lease ends it.
func (s *Steps) releaseCell(ctx context.Context, exec executor.Executor, h executor.Handle, log io.Writer) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := exec.Release(ctx, h); err != nil {
		fmt.Fprintf(log, "workspace not released (%v): its lease will end it\n", err)
	}
}

// pushArtifacts reads the build's artifacts through the executor (the
// workspace may be in a pod) and pushes them next to the image bake makes.
// A declared file the build did not produce fails the phase.
func pushArtifacts(ctx context.Context, exec executor.Executor, h contract.Workspace, in contract.StepsInput) (string, error) {
	if in.ArtifactRepo == "" {
		return "", invalid("build.artifacts need a bake phase (its image repository holds them)")
	}
	files := map[string][]byte{}
	total := 0
	for _, rel := range in.Artifacts {
		b, err := exec.ReadFile(ctx, h, rel, image.MaxArtifacts)
		if err != nil {
			return "", stepFailed("build artifact %s: %v (the build commands must produce it)", rel, err)
		}
		if total += len(b); total > image.MaxArtifacts {
			return "", stepFailed("build artifacts are over %d MiB", image.MaxArtifacts>>20)
		}
		files[filepath.ToSlash(filepath.Clean(rel))] = b
	}
	repo, err := repository(in.ArtifactRepo)
	if err != nil {
		return "", err
	}
	digest, err := image.PushArtifacts(ctx, repo, image.ArtifactTag(in.Source.Commit), files)
	if err != nil {
		return "", err
	}
	return repo + "@" + digest, nil
}

// executor returns the executor of the named pool, or the default one.
func (s *Steps) executor(pool string) (executor.Executor, error) {
	if pool == "" {
		return s.Exec, nil
	}
	if e, ok := s.Pools[pool]; ok {
		return e, nil
	}
	names := slices.Sorted(maps.Keys(s.Pools))
	return nil, notConfigured("build.pool %q is not configured on this worker (configured: %s): add it to the server configuration's pools or fix .sluice.yml", pool, strings.Join(names, ", "))
}

// executorFor returns the executor that made a workspace handle.
func (s *Steps) executorFor(h contract.Workspace) executor.Executor {
	if h.Pool != "" {
		if e, ok := s.Pools[h.Pool]; ok {
			return e
		}
	}
	if s.Exec != nil && s.Exec.Kind() == h.Kind {
		return s.Exec
	}
	return nil
}

// maxJUnit bounds the report read from a workspace.
const maxJUnit = 16 << 20

// junitReport summarises the JUnit report the commands wrote, read through
// the executor (the workspace may be in a pod on another machine).
func junitReport(ctx context.Context, exec executor.Executor, h contract.Workspace, rel string) string {
	b, err := exec.ReadFile(ctx, h, rel, maxJUnit)
	if err != nil {
		return fmt.Sprintf("junit: no report at %s (%v)", rel, err)
	}
	sum, err := junitSummary(b)
	if err != nil {
		return fmt.Sprintf("junit: unreadable report at %s (%v)", rel, err)
	}
	return sum
}

// heartbeat reports progress while commands run, so a dead worker is noticed
// within the heartbeat timeout and a cancelled run reaches the command.
func (s *Steps) heartbeat(ctx context.Context, g *progress) func() {
	every := s.HeartbeatEvery
	if every == 0 {
		every = 2 * time.Second
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				s.recordHeartbeat(ctx, g.snapshot())
			}
		}
	}()
	return func() { close(done) }
}

// Cleanup releases a workspace once a run no longer needs it.
func (s *Steps) Cleanup(ctx context.Context, in contract.WorkspaceRef) (err error) {
	defer classify(&err)
	if in.Workspace.IsZero() {
		return nil
	}
	defer heartbeat(ctx)()
	exec := s.executorFor(in.Workspace)
	if exec == nil {
		return notConfigured("no executor on this worker for workspace %s", in.Workspace)
	}
	return exec.Release(ctx, in.Workspace)
}

func summarize(steps []contract.StepResult, out []byte) string {
	var total time.Duration
	for _, s := range steps {
		total += s.Duration
	}
	sum := fmt.Sprintf("%d commands passed in %s", len(steps), total.Round(100*time.Millisecond))
	if t := goTestSummary(out); t != "" {
		sum += "; " + t
	}
	return sum
}

// goTestSummary counts `go test` package results in command output.
func goTestSummary(out []byte) string {
	var ok, failed int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ok  \t"):
			ok++
		case strings.HasPrefix(line, "FAIL\t"):
			failed++
		}
	}
	if ok+failed == 0 {
		return ""
	}
	return fmt.Sprintf("go test: %d packages ok, %d failed", ok, failed)
}

type junitSuites struct {
	Suites []junitSuite `xml:"testsuite"`
	junitSuite
}

type junitSuite struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
}

// junitSummary reads a JUnit XML report (<testsuites> or a single <testsuite>).
func junitSummary(b []byte) (string, error) {
	var s junitSuites
	if err := xml.Unmarshal(b, &s); err != nil {
		return "", err
	}
	all := append([]junitSuite{s.junitSuite}, s.Suites...)
	if len(s.Suites) > 0 {
		all = s.Suites
	}
	var t junitSuite
	for _, x := range all {
		t.Tests, t.Failures, t.Errors, t.Skipped = t.Tests+x.Tests, t.Failures+x.Failures, t.Errors+x.Errors, t.Skipped+x.Skipped
	}
	return fmt.Sprintf("junit: %d passed, %d failed, %d skipped", t.Tests-t.Failures-t.Errors-t.Skipped, t.Failures+t.Errors, t.Skipped), nil
}
