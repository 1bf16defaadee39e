package workflows

import (
	"bytes"
	"os"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// BenchmarkReplay measures what a run costs a worker that does not cache
// it: its next task replays its history first. "waiting" is an eight-phase
// run's history up to its approval wait (what a run evicted while it waits
// replays when the decision comes); "finished" is the whole run (the most
// a replay of it can cost). The sticky cache's size (`sluice worker
// --sticky-cache`) trades this time for the memory a cached run holds.
func BenchmarkReplay(b *testing.B) {
	// the same run recorded by epoch 1 (a timer per phase) and epoch 2
	for _, f := range []struct{ name, file string }{{"epoch1", "success_v6.json"}, {"epoch2", "success_v7.json"}} {
		b.Run(f.name, func(b *testing.B) { benchmarkReplay(b, "testdata/"+f.file) })
	}
}

func benchmarkReplay(b *testing.B, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	full, err := client.HistoryFromJSON(bytes.NewReader(data), client.HistoryJSONOptions{})
	if err != nil {
		b.Fatal(err)
	}
	// the waiting run: up to the approval's timer, before the decision
	cut := 0
	for i, ev := range full.Events {
		if ev.EventType == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED {
			break
		}
		if ev.EventType == enumspb.EVENT_TYPE_TIMER_STARTED {
			cut = i + 1
		}
	}
	if cut == 0 {
		b.Fatalf("no timer before the approval's update in %s", file)
	}
	for _, c := range []struct {
		name string
		h    *historypb.History
	}{
		{"waiting", &historypb.History{Events: full.Events[:cut]}},
		{"finished", full},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(Pipeline)
			opts := worker.ReplayWorkflowHistoryOptions{OriginalExecution: originalExecution(c.h)}
			for b.Loop() {
				if err := r.ReplayWorkflowHistoryWithOptions(nil, c.h, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(c.h.Events)), "events")
		})
	}
}
