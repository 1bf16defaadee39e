package activities

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitstatus"
)

// recorder is a gitstatus.Reporter that records what it is asked to set;
// set, when not nil, is called with each status before it is recorded.
type recorder struct {
	mu  sync.Mutex
	got []gitstatus.Status
	set func(gitstatus.Status) error
}

func (r *recorder) Set(_ context.Context, s gitstatus.Status) error {
	if r.set != nil {
		if err := r.set(s); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s)
	return nil
}

func (r *recorder) Has(context.Context, gitstatus.Status) (bool, error) { return false, nil }

func (r *recorder) statuses() []gitstatus.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gitstatus.Status(nil), r.got...)
}

func progressInput(after time.Duration) contract.StepsInput {
	in := contract.StepsInput{RunID: "run-1", Phase: "test"}
	in.Progress = &contract.Progress{After: after, Status: contract.StatusInput{
		WorkflowID: "pipeline/acme/hello:main", RunID: "run-1", Repo: "acme/hello", Commit: "abc123",
		State: contract.StatusRunning, Description: "phase test"}}
	return in
}

// TestReportingProgress: a phase activity that runs past its Progress.After
// sets the phase's status, and it has landed when the activity returns; one
// that ends sooner, or whose input asks for nothing, sets none; one asked
// for it at once (After 0) sets it however soon it ends; a Git host that
// fails costs the phase nothing.
func TestReportingProgress(t *testing.T) {
	rec := &recorder{}
	c := &CommitStatus{Reporters: map[string]gitstatus.Reporter{"acme/hello": rec}}
	phase := func(ctx context.Context, in contract.StepsInput) (contract.StepsResult, error) {
		return contract.StepsResult{Summary: in.Phase + " ok"}, nil
	}
	// the phase runs until its status has been asked for
	asked := make(chan struct{})
	rec.set = func(gitstatus.Status) error {
		close(asked)
		time.Sleep(50 * time.Millisecond) // the status in flight when the phase ends
		return nil
	}
	slow := func(ctx context.Context, in contract.StepsInput) (contract.StepsResult, error) {
		select {
		case <-asked:
		case <-time.After(10 * time.Second): // never asked: the check below fails
		}
		return phase(ctx, in)
	}
	res, err := ReportingProgress(c, slow)(context.Background(), progressInput(10*time.Millisecond))
	if err != nil || res.Summary != "test ok" {
		t.Fatalf("result %+v, %v", res, err)
	}
	got := rec.statuses()
	if len(got) != 1 || got[0].State != contract.StatusRunning || got[0].Description != "phase test" || got[0].Commit != "abc123" {
		t.Fatalf("statuses when the phase ended %+v, want the phase's running status landed", got)
	}

	rec.set = nil
	if _, err := ReportingProgress(c, phase)(context.Background(), progressInput(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReportingProgress(c, phase)(context.Background(), contract.StepsInput{Phase: "build"}); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.statuses()); n != 1 {
		t.Fatalf("%d statuses, want none beyond the first: a phase that ends sooner, or is asked for none, sets none", n)
	}

	// the run's first phase: at once, however soon the phase ends
	for i := range 20 {
		if _, err := ReportingProgress(c, phase)(context.Background(), progressInput(0)); err != nil {
			t.Fatal(err)
		}
		if n := len(rec.statuses()); n != 2+i {
			t.Fatalf("%d statuses after %d phases that end at once, want each phase's status sent (After 0) and landed", n, i+1)
		}
	}

	refused := make(chan struct{})
	var refusedOnce sync.Once
	down := &recorder{set: func(gitstatus.Status) error {
		refusedOnce.Do(func() { close(refused) })
		return errors.New("connect: connection refused")
	}}
	c = &CommitStatus{Reporters: map[string]gitstatus.Reporter{"acme/hello": down}}
	waited := func(ctx context.Context, in contract.StepsInput) (contract.StepsResult, error) {
		select { // the phase runs until its status has been refused
		case <-refused:
		case <-time.After(10 * time.Second):
			t.Error("the status was never sent")
		}
		return phase(ctx, in)
	}
	if res, err := ReportingProgress(c, waited)(context.Background(), progressInput(time.Millisecond)); err != nil || res.Summary != "test ok" {
		t.Fatalf("with the Git host down: %+v, %v", res, err)
	}
}

// TestProgressSentAgain: a "running" status the Git host refuses is sent
// again while the phase runs, until it lands.
func TestProgressSentAgain(t *testing.T) {
	var mu sync.Mutex
	attempts := 0
	landed := make(chan struct{})
	rec := &recorder{set: func(gitstatus.Status) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts < 3 {
			return errors.New("503 Service Unavailable")
		}
		close(landed)
		return nil
	}}
	c := &CommitStatus{Reporters: map[string]gitstatus.Reporter{"acme/hello": rec}, progressRetry: 10 * time.Millisecond}
	phase := func(ctx context.Context, in contract.StepsInput) (contract.StepsResult, error) {
		select { // the phase runs until its status has landed
		case <-landed:
		case <-time.After(10 * time.Second):
		}
		return contract.StepsResult{Summary: in.Phase + " ok"}, nil
	}
	if _, err := ReportingProgress(c, phase)(context.Background(), progressInput(0)); err != nil {
		t.Fatal(err)
	}
	if got := rec.statuses(); len(got) != 1 || attempts != 3 {
		t.Fatalf("%d statuses after %d attempts, want the refused status sent again until it landed (3 attempts)", len(got), attempts)
	}
}
