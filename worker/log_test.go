package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestLogsCarryTheRunsKeys runs a pipeline on a worker logging JSON: every
// activity's line names the run and the pipeline, and each build step's
// line also its phase and step.
func TestLogsCarryTheRunsKeys(t *testing.T) {
	var out lockedBuffer
	c := devservertest.Start(t)
	w, err := New(c, Config{DataDir: t.TempDir(), Log: slog.New(slog.NewJSONHandler(&out, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	src := "version: 1\nbuild: {commands: [\"true\", \"true\"]}\n"
	repo, commit := gitsrctest.Repo(t, "../examples/hello", src)
	spec, err := pipelines.Parse(".sluice.yml", []byte(src), "hello")
	if err != nil {
		t.Fatal(err)
	}
	started, err := (&runs.Client{Temporal: c}).Start(context.Background(), workflows.Request{Spec: *spec,
		Push: workflows.Push{Repo: "acme/hello", CloneURL: repo, Branch: "main", Commit: commit}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.GetWorkflow(ctx, started.Ref.WorkflowID, started.Ref.RunID).Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	w.Stop()

	run := started.Ref.WorkflowID + "@" + started.Ref.RunID
	var activities, steps int
	out.mu.Lock()
	defer out.mu.Unlock()
	dec := json.NewDecoder(&out.b)
	for dec.More() {
		var line map[string]any
		if err := dec.Decode(&line); err != nil {
			t.Fatal(err)
		}
		switch line["msg"] {
		case "activity finished":
			activities++
			if line["run"] != run || line["pipeline"] != "acme/hello:main" || line["activity"] == "" {
				t.Errorf("activity line without the run's keys: %v", line)
			}
		case "step finished":
			steps++
			if line["run"] != run || line["phase"] != "build" || line["step"] != float64(steps) {
				t.Errorf("step line %d without its keys: %v", steps, line)
			}
		}
	}
	if activities < 3 || steps != 2 {
		t.Fatalf("%d activity lines and %d step lines, want several and 2", activities, steps)
	}
}
