package executor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

func workspace(t *testing.T) (*Local, Handle) {
	t.Helper()
	l := &Local{Root: t.TempDir(), KillGrace: 200 * time.Millisecond}
	dir := filepath.Join(l.Root, "run1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return l, Handle{Kind: contract.WorkspaceLocal, Path: dir}
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
	assertDead(t, filepath.Join(dir.Path, "child.pid"))
}

// TestRunCancelKillsTheProcessGroup cancels a script whose shell ignores
// SIGTERM and whose child would live for minutes: Run must return soon after
// the kill grace, with the child gone. Killing only the shell leaves the
// child holding the output pipe, and Run would wait for it.
func TestRunCancelKillsTheProcessGroup(t *testing.T) {
	l, dir := workspace(t)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() {
		waitForFile(t, filepath.Join(dir.Path, "child.pid"))
		close(started)
		cancel()
	}()
	returned := make(chan error, 1)
	go func() {
		_, err := l.Run(ctx, dir, Command{Script: "trap '' TERM; sleep 300 & echo $! > child.pid; wait"}, &bytes.Buffer{})
		returned <- err
	}()
	<-started
	// the bound is the kill grace (200ms) plus the pipe wait (1s), with room
	// for a loaded machine; without the group kill Run waits 300s
	select {
	case err := <-returned:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel: the command's processes outlived it")
	}
	assertDead(t, filepath.Join(dir.Path, "child.pid"))
}

// TestRunEndsALostAttemptFirst starts a process group the way a worker that
// was then killed would have left it, and checks the next Run in the same
// workspace ends it before running anything.
func TestRunEndsALostAttemptFirst(t *testing.T) {
	l, dir := workspace(t)
	lost := exec.Command("/bin/sh", "-c", "sleep 300 & echo $! > lost.pid; wait")
	lost.Dir = dir.Path
	lost.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := lost.Start(); err != nil {
		t.Fatal(err)
	}
	go lost.Wait()
	if err := writeGroup(groupFile(dir.Path), lost.Process.Pid); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(dir.Path, "lost.pid"))
	var out bytes.Buffer
	res, err := l.Run(context.Background(), dir, Command{Script: `s=$(awk '{print $3}' /proc/$(cat lost.pid)/stat 2>/dev/null); if [ -z "$s" ] || [ "$s" = Z ]; then echo clean; else echo OVERLAP; fi`}, &out)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("res %+v err %v", res, err)
	}
	if !strings.Contains(out.String(), "clean") {
		t.Fatalf("the retried command overlapped the lost attempt: %q", out.String())
	}
}

func TestReadFileStaysInsideTheWorkspace(t *testing.T) {
	l, dir := workspace(t)
	if err := os.WriteFile(filepath.Join(dir.Path, "report.xml"), []byte("<testsuite/>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir.Path, "escape")); err != nil {
		t.Fatal(err)
	}
	if b, err := l.ReadFile(context.Background(), dir, "report.xml", 100); err != nil || string(b) != "<testsuite/>" {
		t.Fatalf("read %q, %v", b, err)
	}
	for _, rel := range []string{"../run1/report.xml", "/etc/passwd", "escape"} {
		if b, err := l.ReadFile(context.Background(), dir, rel, 1<<20); err == nil {
			t.Errorf("ReadFile(%q) left the workspace and read %d bytes", rel, len(b))
		}
	}
	if _, err := l.ReadFile(context.Background(), dir, "report.xml", 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("want ErrTooLarge over the limit, got %v", err)
	}
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	for range 500 {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
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
	for _, want := range []string{"FROM_SPEC=yes", "CI=true", "SLUICE_WORKSPACE=" + dir.Path, "PATH="} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s", want)
		}
	}
}

func TestRunRefusesHandlesOutsideRoot(t *testing.T) {
	l, _ := workspace(t)
	for _, h := range []Handle{{Kind: contract.WorkspaceLocal, Path: "/etc"}, {Kind: contract.WorkspaceLocal, Path: l.Root + "/../x"}, {Kind: contract.WorkspacePod, Path: l.Root + "/run1"}} {
		if _, err := l.Run(context.Background(), h, Command{Script: "true"}, &bytes.Buffer{}); err == nil {
			t.Fatalf("ran outside the workspace root: %+v", h)
		}
	}
	if _, err := l.Run(context.Background(), Handle{Kind: contract.WorkspaceLocal, Path: filepath.Join(l.Root, "gone")}, Command{Script: "true"}, &bytes.Buffer{}); !errors.Is(err, ErrWorkspaceGone) {
		t.Fatalf("want ErrWorkspaceGone, got %v", err)
	}
}
