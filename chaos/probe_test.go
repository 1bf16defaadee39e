package chaos

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

func TestSummariseFindsErrorWindows(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	samples := []sample{
		{at: ms(0), latency: time.Millisecond},
		{at: ms(100), err: "connection refused", latency: 2 * time.Millisecond},
		{at: ms(200), latency: time.Millisecond},
		// less than MergeGap after the last failure: the same window
		{at: ms(300), err: "HTTP 503", latency: 3 * time.Millisecond},
		{at: ms(400), latency: time.Millisecond},
		{at: ms(1400), latency: time.Millisecond},
		// a new window, still open at the end
		{at: ms(2500), err: "timeout", latency: time.Second},
	}
	// out of order on purpose: requests finish in any order
	samples[0], samples[3] = samples[3], samples[0]
	o := summarise(samples, t0, ms(2600), 100*time.Millisecond)
	want := []contract.ErrorWindow{
		{Start: ms(100), End: ms(400), Failed: 2, Requests: 3, Error: "connection refused"},
		{Start: ms(2500), End: ms(2600), Failed: 1, Requests: 1, Error: "timeout"},
	}
	if len(o.Windows) != 2 || o.Windows[0] != want[0] || o.Windows[1] != want[1] {
		t.Fatalf("windows\n got %+v\nwant %+v", o.Windows, want)
	}
	if o.Requests != 7 || o.Failed != 3 || o.Longest() != 300*time.Millisecond || o.P99 != time.Second || o.P50 != time.Millisecond {
		t.Errorf("observation %+v (longest %s)", o, o.Longest())
	}
}

func TestMergeMarksTheUnobservedStretch(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := contract.Observation{Start: t0, End: t0.Add(5 * time.Second), Requests: 100, Failed: 1, P99: 5 * time.Millisecond,
		Windows: []contract.ErrorWindow{{Start: t0, End: t0.Add(time.Second), Failed: 1}}}
	b := contract.Observation{Start: t0.Add(20 * time.Second), End: t0.Add(30 * time.Second), Requests: 200, P99: 9 * time.Millisecond}
	m := Merge(a, b)
	if m.Start != t0 || m.End != b.End || m.Requests != 300 || m.Failed != 1 || len(m.Windows) != 1 || m.P99 != 9*time.Millisecond {
		t.Errorf("merged %+v", m)
	}
	if len(m.Unobserved) != 1 || m.Unobserved[0] != (contract.Span{Start: a.End, End: b.Start}) {
		t.Errorf("unobserved %+v", m.Unobserved)
	}
	if got := Merge(contract.Observation{}, b); got.Start != b.Start || len(got.Unobserved) != 0 {
		t.Errorf("nothing before: %+v", got)
	}
}

// TestProberSeesAnOutage probes a real HTTP server that answers 503 for a
// while, and one that is gone.
func TestProberSeesAnOutage(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	var progress atomic.Int32
	p := &Prober{URL: srv.URL, Rate: 100, Timeout: time.Second, Progress: func(so contract.Observation) {
		// the outage starts once a second of requests has gone well, and
		// ends after another second
		switch progress.Add(1) {
		case 1:
			down.Store(true)
		case 2:
			down.Store(false)
		}
	}}
	o, err := p.Run(context.Background(), 3500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Windows) != 1 || o.Windows[0].Error != "HTTP 503" {
		t.Fatalf("windows %+v", o.Windows)
	}
	if l := o.Longest(); l < 800*time.Millisecond || l > 1300*time.Millisecond {
		t.Errorf("the 1s outage was seen as %s", l)
	}
	if o.Requests < 250 || o.Resolution != 10*time.Millisecond {
		t.Errorf("%d requests at resolution %s", o.Requests, o.Resolution)
	}

	srv.Close()
	o, err = (&Prober{URL: srv.URL, Rate: 20, Timeout: time.Second}).Run(context.Background(), 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if o.Failed != o.Requests || len(o.Windows) != 1 || o.Windows[0].Error != "connection refused" {
		t.Errorf("a server that is gone: %+v", o)
	}
}
