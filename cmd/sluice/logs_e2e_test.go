package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/testenv/s3test"
	"github.com/sluice-cd/sluice/worker"
)

// TestLogsFollowAcrossMachines: a worker with a data dir of its own (A)
// runs the build; `sluice logs --follow` against a server with another
// data dir (B), sharing nothing with the worker but Temporal and an
// S3-compatible object store (SeaweedFS), streams the build's lines while
// it runs. After the server restarts and worker A's data dir is gone, the
// whole log is still read, from the object store.
func TestLogsFollowAcrossMachines(t *testing.T) {
	e := newEnv(t)
	srv := s3test.Start(t)
	url := srv.Bucket(t, "sluice-logs")
	e.extraEnv = srv.Env()
	dev := e.startDev("--worker=false", "--logs", url)

	gate, err := os.MkdirTemp("", "sluice-gate-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(gate) })
	if err := os.Chmod(gate, 0o755); err != nil { // the step user looks in it
		t.Fatal(err)
	}
	spec := `version: 1
name: shiplogs
build:
  commands:
    - echo first line
    - while [ ! -e ` + gate + `/open ]; do sleep 0.1; done
    - echo second line
`
	repo, _ := gitsrctest.Repo(t, "../../examples/hello", spec)
	dirA := filepath.Join(filepath.Dir(e.dataDir), "worker-a")
	workerA := e.start("worker", "--data-dir", dirA, "--step-home", stepHome, "--logs", url)

	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		t.Fatal("run failed to start")
	}
	follow := e.start("logs", "--follow", started.RunID)
	poll.UntilWithin(t, 2*time.Minute, "the build's first line through server B", func() bool {
		return strings.Contains(follow.out.String(), "build | first line")
	})
	// live: the build is still held at the gate
	if st := e.waitState(started.RunID, "running", 10*time.Second); st.Phase != "build" {
		t.Fatalf("the run is in %q, not holding in build", st.Phase)
	}
	runID := started.RunID[strings.LastIndex(started.RunID, "@")+1:]
	if _, err := os.Stat(filepath.Join(worker.LogDir(e.dataDir), runID+".log")); !os.IsNotExist(err) {
		t.Fatalf("server B's data dir holds the run's log (%v): nothing would show that it came through the store", err)
	}
	if err := os.WriteFile(filepath.Join(gate, "open"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	poll.UntilWithin(t, 2*time.Minute, "sluice logs --follow to end with the run", follow.exited)
	for _, want := range []string{"build | first line\n", "build | second line\n", "run finished: succeeded"} {
		if strings.Count(follow.out.String(), want) != 1 {
			t.Fatalf("the followed log holds %q %d times, want once:\n%s", want, strings.Count(follow.out.String(), want), follow.out.String())
		}
	}

	// every process of both "machines" restarts; worker A's disk is gone
	workerA.kill(syscall.SIGKILL)
	if err := os.RemoveAll(dirA); err != nil {
		t.Fatal(err)
	}
	dev.kill(syscall.SIGKILL)
	e.startDev("--worker=false", "--logs", url)
	logs, errOut, code := e.sluice("logs", started.RunID)
	if code != 0 {
		t.Fatalf("logs after the restarts: code %d: %s", code, errOut)
	}
	for _, want := range []string{"build | first line\n", "build | second line\n", "run finished: succeeded"} {
		if strings.Count(logs, want) != 1 {
			t.Fatalf("after the restarts the log holds %q %d times, want once:\n%s", want, strings.Count(logs, want), logs)
		}
	}
}
