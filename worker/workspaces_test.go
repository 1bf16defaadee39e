package worker

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/testenv"
)

// TestWorkspacesMoveWhenTheStepUserCannotReachTheDataDir: a root worker
// whose data dir sits under a private directory (/root/...) keeps its
// workspaces in the temp dir, where the step user can reach them, instead
// of failing at start.
func TestWorkspacesMoveWhenTheStepUserCannotReachTheDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("needs root; CI runs as root")
		}
		t.Skip("not root")
	}
	dir := t.TempDir() // its parent is 0700
	alt := FallbackWorkspaces(dir)
	t.Cleanup(func() { os.RemoveAll(alt) })
	c := devservertest.Start(t)
	if _, err := New(c, Config{DataDir: dir, StepUser: &executor.DefaultStepUser}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(alt, ".home"))
	if err != nil {
		t.Fatalf("no step home in %s: %v", alt, err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != executor.DefaultStepUser.UID {
		t.Fatalf("step home owned by %d", st.Uid)
	}
}
