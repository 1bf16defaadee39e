package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

func TestEndToEndBuildTestApproval(t *testing.T) {
	e := newEnv(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.startDev("--metrics-addr", metricsAddr)
	repo, commit := gitRepo(t, "")

	var started struct {
		RunID  string `json:"run_id"`
		Action string `json:"action"`
		Commit string `json:"commit"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 || started.Action != "started" {
		t.Fatalf("run: code %d %+v", code, started)
	}
	if started.Commit != commit || !strings.HasPrefix(started.RunID, "pipeline/hello:main@") {
		t.Fatalf("run id %q commit %q", started.RunID, started.Commit)
	}
	st := e.waitState(started.RunID, "awaiting_approval", 2*time.Minute)
	if st.Phase != "approval" {
		t.Fatalf("phase %q", st.Phase)
	}

	// A non-approver and the author are refused, with the reason, and the
	// refusals are recorded in the run.
	out, errOut, code := e.sluice("approve", started.RunID, "--as", "mallory")
	if code != 1 || !strings.Contains(errOut, "not an approver") {
		t.Fatalf("non-approver: code %d out %q err %q", code, out, errOut)
	}
	if _, errOut, code = e.sluice("approve", started.RunID, "--as", "carol@example.com"); code != 1 || !strings.Contains(errOut, "author") {
		t.Fatalf("author: code %d err %q", code, errOut)
	}
	st = e.waitState(started.RunID, "awaiting_approval", 10*time.Second)
	if len(st.Approval.Refusals) != 2 || st.Approval.Refusals[0].User != "mallory" {
		t.Fatalf("refusals not recorded: %+v", st.Approval)
	}

	if out, errOut, code = e.sluice("approve", started.RunID, "--as", "alice", "--comment", "lgtm"); code != 0 || !strings.Contains(out, "approved") {
		t.Fatalf("approve: code %d out %q err %q", code, out, errOut)
	}
	out, _, code = e.sluice("status", started.RunID, "--wait")
	if code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("status --wait: code %d\n%s", code, out)
	}
	st = e.waitState(started.RunID, "succeeded", 10*time.Second)
	for _, p := range st.Phases {
		if p.Status != "succeeded" {
			t.Errorf("phase %s %s", p.Name, p.Status)
		}
	}

	logs, errOut, code := e.sluice("logs", started.RunID)
	for _, want := range []string{"build | $ CGO_ENABLED=0 go build", "test | ok  \texample.com/hello", "run finished: succeeded"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q (code %d, %s):\n%s", want, code, errOut, logs)
		}
	}
	list, _, _ := e.sluice("list")
	if !strings.Contains(list, started.RunID) {
		t.Errorf("list lacks the run:\n%s", list)
	}

	// the logs API is closed to clients without the token
	base := fmt.Sprintf("http://127.0.0.1:%d/api/v1/logs/", e.http)
	_, temporalRun, _ := strings.Cut(started.RunID, "@")
	if code := httpStatus(t, base+temporalRun, ""); code != http.StatusUnauthorized {
		t.Errorf("logs without a token: status %d, want 401", code)
	}
	if _, errOut, code := e.sluice("logs", started.RunID, "--token", "not-the-token"); code == 0 || !strings.Contains(errOut, "token") {
		t.Errorf("logs with a wrong token: code %d, %q", code, errOut)
	}
	// following the log of a run that does not exist answers at once
	token, _ := os.ReadFile(filepath.Join(e.dataDir, "api-token"))
	if code := httpStatus(t, base+"0193abcd-0000-7000-8000-000000000000?follow=1&workflow=pipeline/acme/none/main", strings.TrimSpace(string(token))); code != http.StatusNotFound {
		t.Errorf("follow of an unknown run: status %d, want 404", code)
	}

	// Prometheus metrics: the finished run, each phase's activity, and
	// the Temporal SDK's own.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`(?m)^sluice_runs_finished_total\{repo="[^"]+",state="succeeded"\} 1$`,
		`(?m)^sluice_activity_duration_seconds_count\{activity="Run",outcome="succeeded"\} 2$`,
		`(?m)^sluice_activity_duration_seconds_count\{activity="ApprovalPolicy",outcome="succeeded"\} 1$`,
		`(?m)^temporal_workflow_completed\{.*workflow_type="Pipeline".*\} 1$`,
		`(?m)^sluice_approval_wait_seconds_count\{.*outcome="approved".*\} 1$`,
	} {
		if !regexp.MustCompile(want).Match(body) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(string(body), "sluice_|temporal_workflow"))
		}
	}
}

// grepLines keeps the lines of s that match re.
func grepLines(s, re string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if regexp.MustCompile(re).MatchString(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// httpStatus GETs url with the bearer token (none when empty) and returns
// the status; the client's timeout bounds a request that would hang.
func httpStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestInvalidSpecStartsNothing(t *testing.T) {
	e := newEnv(t)
	e.startDev()
	repo, _ := gitRepo(t, "version: 1\nbuild:\n  comands: [make]\napproval:\n  timeout: forever\n")
	_, errOut, code := e.sluice("run", "--repo", repo, "--ref", "main")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{".sluice.yml:3:3", `did you mean "commands"`, ".sluice.yml:5:12", "bad duration", "approval without approvers", "nothing was started"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error output lacks %q:\n%s", want, errOut)
		}
	}
	if list, _, _ := e.sluice("list"); strings.Contains(list, "pipeline/") {
		t.Fatalf("a run was started:\n%s", list)
	}
	// lint says the same, offline.
	_, errOut, code = e.sluice("lint", filepath.Join(repo, ".sluice.yml"))
	if code != 1 || !strings.Contains(errOut, "4 problem(s)") {
		t.Fatalf("lint: %d %s", code, errOut)
	}
}

func TestUnknownRunIsAClearError(t *testing.T) {
	e := newEnv(t)
	e.startDev()
	for _, args := range [][]string{
		{"status", "pipeline/nope/main"},
		{"approve", "pipeline/nope/main@0193abcd-ef01-7000-8000-000000000000", "--as", "alice"},
		{"status", "banana"},
	} {
		_, errOut, code := e.sluice(args...)
		if code != 1 || !(strings.Contains(errOut, "run not found") || strings.Contains(errOut, "is not a run id")) || strings.Contains(errOut, "panic") {
			t.Errorf("%v: code %d err %q", args, code, errOut)
		}
	}
}

// TestWorkerCrashDuringBuild kills the worker with SIGKILL while a build
// command runs; a new worker picks the step up after the heartbeat timeout
// and the run completes.
func TestWorkerCrashDuringBuild(t *testing.T) {
	e := newEnv(t)
	e.startDev("--worker=false")
	spec := "version: 1\nbuild:\n  commands:\n    - echo started >> attempts && sleep 3 && echo built > built.txt\n    - test -f built.txt\n"
	repo, _ := gitRepo(t, spec)
	workerArgs := []string{"worker", "--data-dir", e.dataDir}
	w1 := e.start(workerArgs...)

	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		t.Fatalf("run failed to start")
	}
	// wait until the first command is running
	deadline := time.Now().Add(time.Minute)
	for {
		logs, _, _ := e.sluice("logs", started.RunID)
		if strings.Contains(logs, "$ echo started") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("build never started; worker output:\n%s", w1.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	w1.kill(syscall.SIGKILL)
	e.start(workerArgs...)
	out, _, code := e.sluice("status", started.RunID, "--wait")
	if code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("run did not complete after worker restart (code %d):\n%s", code, out)
	}
	logs, _, _ := e.sluice("logs", started.RunID)
	if strings.Count(logs, "$ echo started") != 2 {
		t.Fatalf("want the interrupted command to run again on the new worker:\n%s", logs)
	}
}

// TestServerRestartKeepsWaitingApproval kills `sluice dev` while a run waits
// for approval and starts it again on the same data dir: the approval is
// still there and approving it completes the run.
func TestServerRestartKeepsWaitingApproval(t *testing.T) {
	e := newEnv(t)
	dev := e.startDev()
	repo, _ := gitRepo(t, "")
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		t.Fatal("run failed to start")
	}
	e.waitState(started.RunID, "awaiting_approval", 2*time.Minute)
	dev.kill(syscall.SIGKILL)
	// status asks the server, which is down with the rest of `sluice dev`
	if _, errOut, code := e.sluice("status", started.RunID); code == 0 || !strings.Contains(errOut, "reach the Sluice server") {
		t.Fatalf("status with the server down: code %d, %q", code, errOut)
	}

	e.startDev()
	st := e.waitState(started.RunID, "awaiting_approval", time.Minute)
	if st.Approval == nil || st.Approval.Status != "pending" {
		t.Fatalf("approval after restart: %+v", st.Approval)
	}
	if out, errOut, code := e.sluice("approve", started.RunID, "--as", "bob"); code != 0 {
		t.Fatalf("approve after restart: %s %s", out, errOut)
	}
	e.waitState(started.RunID, "succeeded", time.Minute)
}

// TestNewerPushSupersedesRunningRun pushes a second commit while the first
// run waits for approval: the first is cancelled and the second runs.
func TestNewerPushSupersedesRunningRun(t *testing.T) {
	e := newEnv(t)
	e.startDev()
	repo, first := gitRepo(t, "")
	var run1, run2 struct {
		RunID  string `json:"run_id"`
		Action string `json:"action"`
	}
	e.json(&run1, "run", "--repo", repo, "--ref", "main")
	e.waitState(run1.RunID, "awaiting_approval", 2*time.Minute)

	if err := os.WriteFile(filepath.Join(repo, "NOTES"), []byte("second\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := gitsrctest.Commit(t, repo, "second")
	if code := e.json(&run2, "run", "--repo", repo, "--ref", "main"); code != 0 || run2.Action != "superseding" || run2.RunID == run1.RunID {
		t.Fatalf("second run: code %d %+v", code, run2)
	}
	st1 := e.waitState(run1.RunID, "cancelled", 30*time.Second)
	if !strings.Contains(st1.Error, second) || st1.Commit != first {
		t.Fatalf("first run: %+v", st1)
	}
	st2 := e.waitState(run2.RunID, "awaiting_approval", 2*time.Minute)
	if st2.Commit != second {
		t.Fatalf("second run commit %s", st2.Commit)
	}
	// the same push again is a duplicate, not a third run
	var dup struct {
		RunID  string `json:"run_id"`
		Action string `json:"action"`
	}
	if e.json(&dup, "run", "--repo", repo, "--ref", "main"); dup.Action != "duplicate" || dup.RunID != run2.RunID {
		t.Fatalf("re-run of the running commit: %+v", dup)
	}
}

// TestRetryResumesAtTheFailedPhase fails the test phase once; `sluice retry`
// starts a new run at test, in the build's workspace, without building again.
func TestRetryResumesAtTheFailedPhase(t *testing.T) {
	e := newEnv(t)
	e.startDev()
	// the step (the step user, when the test runs as root) leaves the marker
	// outside its workspace, in a directory anyone may write
	shared := t.TempDir()
	for _, d := range []string{filepath.Dir(shared), shared} {
		if err := os.Chmod(d, 0o1777); err != nil {
			t.Fatal(err)
		}
	}
	marker := filepath.Join(shared, "failed-once")
	spec := "version: 1\nbuild:\n  commands: [\"echo built > artifact.txt\"]\ntest:\n  commands: [\"test -f " + marker + " || { touch " + marker + "; exit 1; }\", \"test -f artifact.txt\"]\n"
	repo, _ := gitRepo(t, spec)
	var first, retry struct {
		RunID  string `json:"run_id"`
		Action string `json:"action"`
	}
	e.json(&first, "run", "--repo", repo, "--ref", "main")
	st := e.waitState(first.RunID, "failed", time.Minute)
	if st.Phase != "test" {
		t.Fatalf("failed in %q", st.Phase)
	}
	if code := e.json(&retry, "retry", first.RunID); code != 0 || retry.Action != "retrying from test" || retry.RunID == first.RunID {
		t.Fatalf("retry: code %d %+v", code, retry)
	}
	st = e.waitState(retry.RunID, "succeeded", time.Minute)
	if st.Phases[0].Name != "build" || st.Phases[0].Status != "reused" {
		t.Fatalf("build phase of the retry: %+v", st.Phases[0])
	}
	logs, _, _ := e.sluice("logs", retry.RunID)
	if strings.Contains(logs, "echo built") || !strings.Contains(logs, "$ test -f artifact.txt") {
		t.Fatalf("retry log:\n%s", logs)
	}
	// a succeeded run cannot be retried
	if _, errOut, code := e.sluice("retry", retry.RunID); code != 1 || !strings.Contains(errOut, "only failed, cancelled or timed-out runs") {
		t.Fatalf("retry of a succeeded run: %d %s", code, errOut)
	}
}
