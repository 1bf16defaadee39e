package executor

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sluice-cd/sluice/contract"
)

// helperEnv makes the test binary a worker that runs one long step in the
// workspace the variable names (TestGuardHelperWorker).
const helperEnv = "SLUICE_TEST_GUARD_WORKSPACE"

// TestGuardHelperWorker is not a test of its own: it is the worker that
// TestKilledWorkersStepsEnd kills.
func TestGuardHelperWorker(t *testing.T) {
	ws := os.Getenv(helperEnv)
	if ws == "" {
		t.Skip("run by TestKilledWorkersStepsEnd")
	}
	l := &Local{Root: filepath.Dir(ws)}
	if os.Getenv("SLUICE_TEST_GUARD_STEP_USER") != "" {
		l.User = &DefaultStepUser
	}
	// a process of the step's own, then the mark that it runs
	_, _ = l.Run(context.Background(), Handle{Kind: contract.WorkspaceLocal, Path: ws},
		Command{Script: "sleep 300 & echo $! > child.pid; wait"}, &bytes.Buffer{})
}

// TestKilledWorkersStepsEnd: a worker killed with SIGKILL while a step
// runs leaves nothing of the step running — the processes the step's
// shell started included, which no death signal reaches by itself — also
// when the step runs as the step user.
func TestKilledWorkersStepsEnd(t *testing.T) {
	for _, asStepUser := range []bool{false, true} {
		name := map[bool]string{false: "as the worker's user", true: "as the step user"}[asStepUser]
		t.Run(name, func(t *testing.T) {
			var data string
			if asStepUser {
				needRoot(t)
				data = reachableTempDir(t)
			} else {
				data = t.TempDir()
			}
			ws := filepath.Join(data, "run1")
			if err := os.MkdirAll(ws, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(ws, 0o777); err != nil {
				t.Fatal(err)
			}
			worker := exec.Command(os.Args[0], "-test.run=^TestGuardHelperWorker$")
			worker.Env = append(os.Environ(), helperEnv+"="+ws)
			if asStepUser {
				worker.Env = append(worker.Env, "SLUICE_TEST_GUARD_STEP_USER=1")
			}
			if err := worker.Start(); err != nil {
				t.Fatal(err)
			}
			waitForFile(t, filepath.Join(ws, "child.pid"))
			if err := worker.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = worker.Wait()
			assertDead(t, filepath.Join(ws, "child.pid"))
		})
	}
}
