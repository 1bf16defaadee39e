package gitstatus_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/gitstatus"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/worker"
	"github.com/sluice-cd/sluice/workflows"
)

// TestPipelineSetsCommitStatuses runs a real pipeline on the embedded
// server with a GitHub reporter pointed at a server speaking GitHub's status
// API: the commit gets "pending" while phases run (the first at once, a later
// one when it runs for over a second: its worker sends it) and "success" at the end, linked to
// the run in the Temporal UI.
func TestPipelineSetsCommitStatuses(t *testing.T) {
	// build's status goes at once (the first phase); test's because it runs
	// past the one-second gate; both from the worker that runs the phase
	src := "version: 1\nbuild: {commands: [\"true\"]}\ntest: {commands: [\"sleep 2\"]}\n"
	got, commit := runWithStatuses(t, src, nil)
	if len(got) != 3 {
		t.Fatalf("want 2 progress statuses and 1 final, got %v", got)
	}
	last := got[len(got)-1]
	if last["state"] != "success" || last["context"] != "sluice" || last["path"] != "/api/v3/repos/acme/hello/statuses/"+commit ||
		!strings.HasPrefix(last["target_url"], "http://ui.example/namespaces/default/workflows/") {
		t.Fatalf("final status %v", last)
	}
	var progress []string
	for _, s := range got[:2] {
		if s["state"] != "pending" || !strings.HasPrefix(s["description"], "phase ") {
			t.Fatalf("progress status %v", s)
		}
		progress = append(progress, s["description"])
	}
	if slices.Sort(progress); !slices.Equal(progress, []string{"phase build", "phase test"}) {
		t.Fatalf("progress statuses %v", progress)
	}
}

// TestRefusedProgressSentAgain: GitHub answers 503 to the first phase's
// "running" status; the worker sends it again while the phase runs, and
// the commit shows the run running before it shows the result.
func TestRefusedProgressSentAgain(t *testing.T) {
	refused := false
	refuse := func(body map[string]string) bool {
		if body["description"] == "phase build" && !refused {
			refused = true
			return true
		}
		return false
	}
	got, _ := runWithStatuses(t, "version: 1\nbuild: {commands: [\"sleep 3\"]}\n", refuse)
	if !refused {
		t.Fatal("the build's status was never refused")
	}
	if len(got) != 2 || got[0]["description"] != "phase build" || got[0]["state"] != "pending" || got[1]["state"] != "success" {
		t.Fatalf("statuses the host accepted %v, want the refused \"phase build\" sent again, then the final one", got)
	}
}

// runWithStatuses runs the pipeline src on the embedded server with a
// GitHub reporter pointed at a server speaking GitHub's status API, which
// answers 503 to a status refuse (called under its lock) returns true for,
// and returns the statuses it accepted, in order, with the commit.
func runWithStatuses(t *testing.T, src string, refuse func(map[string]string) bool) ([]map[string]string, string) {
	t.Helper()
	var mu sync.Mutex
	var got []map[string]string
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]string
		_ = json.Unmarshal(b, &body)
		body["path"] = r.URL.Path
		mu.Lock()
		defer mu.Unlock()
		if refuse != nil && refuse(body) {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		got = append(got, body)
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id": 1}`))
	}))
	defer gh.Close()
	rep, err := gitstatus.New("github", gh.URL+"/api/v3/", "token")
	if err != nil {
		t.Fatal(err)
	}
	c := devservertest.Start(t)
	w, err := worker.New(c, worker.Config{DataDir: t.TempDir(), UIURL: "http://ui.example",
		Statuses: map[string]gitstatus.Reporter{"acme/hello": rep}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	repo, commit := gitsrctest.Repo(t, "../examples/hello", src)
	spec, err := pipelines.Parse(".sluice.yml", []byte(src), "hello")
	if err != nil {
		t.Fatal(err)
	}
	rc := &runs.Client{Temporal: c}
	started, err := rc.Start(context.Background(), workflows.Request{Spec: *spec,
		Push: workflows.Push{Repo: "acme/hello", CloneURL: repo, Branch: "main", Commit: commit}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.GetWorkflow(ctx, started.Ref.WorkflowID, started.Ref.RunID).Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(got), commit
}
