package activities

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/logstore"
)

// Steps runs build and test commands through an Executor and streams their
// output to the run's log.
type Steps struct {
	Exec executor.Executor
	Logs *logstore.Store
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
	Workspace string       `json:"workspace"`
	Done      []StepResult `json:"done"`
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

func (g *progress) finished(step StepResult) stepsProgress {
	g.mu.Lock()
	g.p.Done = append(g.p.Done, step)
	g.mu.Unlock()
	return g.snapshot()
}

// Run prepares the workspace and runs the commands in order; the first
// failing command fails the phase (non-retryable StepFailed).
func (s *Steps) Run(ctx context.Context, in StepsInput) (StepsResult, error) {
	if in.RunID == "" || len(in.Commands) == 0 {
		return StepsResult{}, temporal.NewNonRetryableApplicationError("steps need a run id and at least one command", ErrInvalidInput, nil)
	}
	var prog stepsProgress
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &prog)
	}
	handle, err := s.Exec.Prepare(ctx, executor.Workspace{Key: in.RunID, CloneURL: in.Source.CloneURL, Commit: in.Source.Commit}, in.Workspace)
	if err != nil {
		if errors.Is(err, gitsrc.ErrNotFound) || errors.Is(err, gitsrc.ErrBadCommit) {
			return StepsResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrSource, err)
		}
		return StepsResult{}, fmt.Errorf("prepare workspace: %w", err)
	}
	if prog.Workspace != handle {
		prog = stepsProgress{Workspace: handle}
	}
	log, err := s.Logs.Writer(in.RunID, in.Phase)
	if err != nil {
		return StepsResult{}, err
	}
	defer log.Close()
	if len(prog.Done) > 0 {
		fmt.Fprintf(log, "resuming after %d finished commands (worker restart)\n", len(prog.Done))
	}

	g := &progress{p: prog}
	stop := s.heartbeat(ctx, g)
	defer stop()
	res := StepsResult{Workspace: handle, Steps: slices.Clone(prog.Done)}
	var output bytes.Buffer
	for i := len(prog.Done); i < len(in.Commands); i++ {
		script := in.Commands[i]
		fmt.Fprintf(log, "$ %s\n", script)
		r, err := s.Exec.Run(ctx, handle, executor.Command{Script: script, Env: in.Env, Timeout: in.Timeout}, multi(log, &capped{b: &output}))
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(log, "cancelled")
				return res, ctx.Err()
			}
			return res, fmt.Errorf("run %q: %w", script, err)
		}
		step := StepResult{Command: script, ExitCode: r.ExitCode, Duration: r.Duration}
		res.Steps = append(res.Steps, step)
		switch {
		case r.TimedOut:
			fmt.Fprintf(log, "timed out after %s\n", in.Timeout)
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("command %q timed out after %s", script, in.Timeout), ErrStepFailed, nil)
		case r.ExitCode != 0:
			fmt.Fprintf(log, "exit status %d\n", r.ExitCode)
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("command %q exited with status %d", script, r.ExitCode), ErrStepFailed, nil)
		}
		fmt.Fprintf(log, "ok (%s)\n", r.Duration.Round(time.Millisecond))
		s.recordHeartbeat(ctx, g.finished(step))
	}
	res.Summary = summarize(res.Steps, output.Bytes(), handle, in)
	return res, nil
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
func (s *Steps) Cleanup(ctx context.Context, in UndoInput) error {
	return s.Exec.Release(ctx, in.Workspace)
}

func summarize(steps []StepResult, out []byte, dir string, in StepsInput) string {
	var total time.Duration
	for _, s := range steps {
		total += s.Duration
	}
	sum := fmt.Sprintf("%d commands passed in %s", len(steps), total.Round(100*time.Millisecond))
	if t := goTestSummary(out); t != "" {
		sum += "; " + t
	}
	if in.JUnit != "" {
		if j, err := junitSummary(filepath.Join(dir, in.JUnit)); err == nil {
			sum += "; " + j
		}
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
func junitSummary(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
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
