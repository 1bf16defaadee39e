package executor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func workspace(t *testing.T) (*Local, string) {
	t.Helper()
	l := &Local{Root: t.TempDir(), KillGrace: 200 * time.Millisecond}
	dir := filepath.Join(l.Root, "run1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return l, dir
}

func TestRunStreamsOutputAndExitCode(t *testing.T) {
	l, dir := workspace(t)
	var out bytes.Buffer
	res, err := l.Run(context.Background(), dir, Command{Script: "echo out; echo err >&2; exit 3"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || !strings.Contains(out.String(), "out\n") || !strings.Contains(out.String(), "err\n") {
		t.Fatalf("exit %d output %q", res.ExitCode, out.String())
	}
}

func TestRunTimeoutKillsTheProcessGroup(t *testing.T) {
	l, dir := workspace(t)
	// the script starts a grandchild that would outlive a plain kill of sh
	res, err := l.Run(context.Background(), dir, Command{Script: "sleep 30 & echo $! > child.pid; wait", Timeout: 300 * time.Millisecond}, &bytes.Buffer{})
	if err != nil || !res.TimedOut {
		t.Fatalf("res %+v err %v", res, err)
	}
	assertDead(t, filepath.Join(dir, "child.pid"))
}

func TestRunCancelKillsTheProcessGroup(t *testing.T) {
	l, dir := workspace(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err := l.Run(ctx, dir, Command{Script: "trap '' TERM; sleep 30 & echo $! > child.pid; wait"}, &bytes.Buffer{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	assertDead(t, filepath.Join(dir, "child.pid"))
}

func assertDead(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for range 50 {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		// a zombie not yet reaped by init counts as gone once it is not running
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d survived", pid)
}

func TestRunEnvironmentIsScrubbed(t *testing.T) {
	t.Setenv("SLUICE_TEST_TOKEN", "s3cr3t-value")
	l, dir := workspace(t)
	var out bytes.Buffer
	if _, err := l.Run(context.Background(), dir, Command{Script: "env", Env: map[string]string{"FROM_SPEC": "yes"}}, &out); err != nil {
		t.Fatal(err)
	}
	env := out.String()
	if strings.Contains(env, "s3cr3t-value") {
		t.Fatal("the worker's environment leaked into the command")
	}
	for _, want := range []string{"FROM_SPEC=yes", "CI=true", "SLUICE_WORKSPACE=" + dir, "PATH="} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s", want)
		}
	}
}

func TestRunRefusesHandlesOutsideRoot(t *testing.T) {
	l, _ := workspace(t)
	if _, err := l.Run(context.Background(), "/etc", Command{Script: "true"}, &bytes.Buffer{}); err == nil {
		t.Fatal("ran outside the workspace root")
	}
	if _, err := l.Run(context.Background(), filepath.Join(l.Root, "gone"), Command{Script: "true"}, &bytes.Buffer{}); !errors.Is(err, ErrWorkspaceGone) {
		t.Fatalf("want ErrWorkspaceGone, got %v", err)
	}
}
