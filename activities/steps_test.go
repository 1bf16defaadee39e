package activities

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/logstore"
)

// TestHeartbeatsCarryFinishedCommands checks that the periodic heartbeat
// sent while a later command runs already lists the commands that finished,
// so a retry after a worker crash skips them.
func TestHeartbeatsCarryFinishedCommands(t *testing.T) {
	repo, commit := gitsrctest.Repo(t, "../examples/hello", "")
	logs, err := logstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := &Steps{Exec: &executor.Local{Root: filepath.Join(t.TempDir(), "ws")}, Logs: logs, HeartbeatEvery: 20 * time.Millisecond}

	var mu sync.Mutex
	var during []stepsProgress // every heartbeat Run asked for, before SDK throttling
	steps.record = func(ctx context.Context, details ...any) {
		mu.Lock()
		during = append(during, details[0].(stepsProgress))
		mu.Unlock()
		activity.RecordHeartbeat(ctx, details...)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(steps)
	_, err = env.ExecuteActivity(steps.Run, contract.StepsInput{
		RunID: "run-hb", Phase: "build", Source: contract.Source{CloneURL: repo, Commit: commit},
		Commands: []string{"true", "sleep 0.3"}, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// every heartbeat after the first command finished must list it
	seenFirst := false
	for _, p := range during {
		if len(p.Done) >= 1 {
			seenFirst = true
		} else if seenFirst {
			t.Fatalf("a heartbeat after the first command finished forgot it: %+v", during)
		}
	}
	if !seenFirst || len(during) < 5 {
		t.Fatalf("want periodic heartbeats listing the finished command, got %d: %+v", len(during), during)
	}
}
