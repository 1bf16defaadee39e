package executor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv"
)

// needRoot skips where the worker cannot switch users; CI runs as root, so
// there a skip would hide the behaviour and is a failure instead.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if testenv.InCI() {
		t.Fatal("running steps as another user needs root; CI must run this test as root")
	}
	t.Skip("not root: steps cannot run as another user")
}

// reachableTempDir is a t.TempDir whose ancestors let others through, as a
// data directory's must when steps run as the step user.
func reachableTempDir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestStepsCannotReadTheWorkersSecrets runs a build step the way an
// attacker with push rights would write it: it reads the worker's
// environment through /proc and a secret file the worker can read. As the
// step user both are denied; the step still owns its workspace.
func TestStepsCannotReadTheWorkersSecrets(t *testing.T) {
	needRoot(t)
	const secret = "worker-secret-4f8a9c"
	t.Setenv("SLUICE_TEST_SERVER_SECRET", secret)
	data := reachableTempDir(t)
	secretFile := filepath.Join(data, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &Local{Root: filepath.Join(data, "workspaces"), User: &DefaultStepUser}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	repo, commit := gitsrctest.Repo(t, "../examples/hello", "")
	h, err := l.Prepare(context.Background(), Checkout{Key: "run1-build", CloneURL: repo, Commit: commit}, Handle{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	script := "id -u; cat /proc/$PPID/environ; cat " + secretFile + "; echo built > artifact && cat artifact; echo home=$HOME"
	if _, err := l.Run(context.Background(), h, Command{Script: script}, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, secret) {
		t.Fatalf("the step read the worker's secret:\n%s", got)
	}
	for _, want := range []string{"65532\n", "built\n", "home=" + filepath.Join(l.Root, ".home")} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if b, err := l.ReadFile(context.Background(), h, "artifact", 1<<10); err != nil || string(b) != "built\n" {
		t.Fatalf("worker reads the step's file: %q %v", b, err)
	}
	if err := l.Release(context.Background(), h); err != nil {
		t.Fatal(err)
	}
}

// TestStepUserMustReachTheWorkspaces: a data directory the step user cannot
// enter is refused at start with what to change, not at the first step.
func TestStepUserMustReachTheWorkspaces(t *testing.T) {
	needRoot(t)
	data := reachableTempDir(t)
	if err := os.Chmod(data, 0o700); err != nil {
		t.Fatal(err)
	}
	l := &Local{Root: filepath.Join(data, "workspaces"), User: &DefaultStepUser}
	err := l.Init()
	if err == nil || !strings.Contains(err.Error(), "chmod o+x "+data) {
		t.Fatalf("Init = %v, want the unreachable directory named", err)
	}
}

func TestParseStepUser(t *testing.T) {
	for _, bad := range []string{"0", "root", "12:0", "-1", "12:x"} {
		if _, err := ParseStepUser(bad); err == nil {
			t.Errorf("ParseStepUser(%q) accepted", bad)
		}
	}
	if u, err := ParseStepUser("none"); err != nil || u != nil {
		t.Errorf("none = %v %v", u, err)
	}
}
