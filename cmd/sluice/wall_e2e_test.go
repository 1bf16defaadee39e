package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// TestStepsCannotReachTheControlPlane: a build step of `sluice dev` (the
// local executor, as the step user) tries the embedded Temporal's
// frontend, where an unauthenticated client could list and cancel every
// run, and the HTTP API; both connections are reset. The worker itself
// still runs the pipeline through them.
func TestStepsCannotReachTheControlPlane(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("steps run as the step user only under a root worker")
	}
	e := newEnv(t)
	dial := func(port int) string {
		return fmt.Sprintf(`if bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null; then echo "port %d reached"; else echo "port %d refused"; fi`, port, port, port)
	}
	spec := fmt.Sprintf("version: 1\nbuild:\n  commands:\n    - %q\n    - %q\n", dial(e.temporal), dial(e.http))
	repo, _ := gitsrctest.Repo(t, "../../examples/hello", spec)
	e.startDev()
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		t.Fatal("run failed to start")
	}
	out, _, code := e.sluice("status", started.RunID, "--wait")
	logs, _, _ := e.sluice("logs", started.RunID)
	if code != 0 {
		t.Fatalf("run failed:\n%s\n%s", out, logs)
	}
	for _, p := range []int{e.temporal, e.http} {
		if !strings.Contains(logs, fmt.Sprintf("build | port %d refused", p)) {
			t.Errorf("the step was not refused port %d:\n%s", p, logs)
		}
	}
}
