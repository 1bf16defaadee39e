package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/analysis"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/testenv/promtest"
)

// exporter is an application's /metrics whose traffic moves with each
// scrape: ok and bad requests are added per scrape, as if that many were
// served since the last one.
type exporter struct {
	mu      sync.Mutex
	ok, bad int
	okStep  int
	badStep int
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	e.ok += e.okStep
	e.bad += e.badStep
	fmt.Fprintf(w, "app_requests_total{code=\"200\"} %d\napp_requests_total{code=\"500\"} %d\n", e.ok, e.bad)
	e.mu.Unlock()
}

// errorRate is the analysis a team would write for an HTTP service: the
// share of 5xx answers of the release's pods, with at least 10 requests
// behind each measurement.
func errorRate(delay time.Duration) *pipelines.Analysis {
	return &pipelines.Analysis{
		Delay: pipelines.Duration(delay), Interval: pipelines.Duration(time.Second), Count: 4, FailureLimit: 1, InconclusiveLimit: 1,
		Metrics: []pipelines.Metric{{
			Name:       "error-rate",
			Query:      `(sum(rate(app_requests_total{pod=~"{{pods}}",code=~"5.."}[4s])) or vector(0)) / sum(rate(app_requests_total{pod=~"{{pods}}"}[4s]))`,
			Success:    "< 0.05",
			Samples:    `sum(increase(app_requests_total{pod=~"{{pods}}"}[4s]))`,
			MinSamples: 10,
		}},
	}
}

// TestAnalysisAgainstPrometheus runs analyses against a real Prometheus
// scraping three exporters: a good release passes, one answering 500 to
// 10 % fails as soon as it is over its failure limit, one without traffic
// is inconclusive (never a pass); a query Prometheus rejects, or one that
// returns several series, is refused before anything is measured, naming
// the metric; an unreachable Prometheus is inconclusive.
func TestAnalysisAgainstPrometheus(t *testing.T) {
	pods := map[string]*exporter{
		"good-1": {okStep: 20},
		"bad-1":  {okStep: 18, badStep: 2},
		"idle-1": {},
	}
	var static []promtest.Target
	for name, e := range pods {
		srv := httptest.NewServer(e)
		t.Cleanup(srv.Close)
		static = append(static, promtest.Target{Targets: []string{strings.TrimPrefix(srv.URL, "http://")}, Labels: map[string]string{"pod": name}})
	}
	stack := promtest.Start(t, promtest.Options{Static: static})
	prom := &analysis.Prometheus{URL: stack.PrometheusURL}
	ctx := context.Background()
	poll.Until(t, "Prometheus to scrape the three exporters twice", func() bool {
		v, err := prom.Query(ctx, `count(count_over_time(up[10s]) >= 2)`, time.Time{})
		return err == nil && v == 3
	})

	for _, c := range []struct {
		pod, verdict string
		taken        int
	}{
		{"good-1", analysis.Passed, 4},
		{"bad-1", analysis.Failed, 2},
		{"idle-1", analysis.Inconclusive, 2},
	} {
		t.Run(c.pod, func(t *testing.T) {
			a := errorRate(0)
			vars := analysis.Vars{"pods": c.pod}
			if err := analysis.Check(ctx, prom, a, vars); err != nil {
				t.Fatal(err)
			}
			var r analysis.Result
			var logged []string
			err := analysis.Run(ctx, prom, a, vars, time.Now(), &r, func(_ *analysis.Result, round []analysis.Measurement) {
				for _, m := range round {
					logged = append(logged, m.String())
				}
			})
			if err != nil || r.Verdict != c.verdict || r.Taken != c.taken || len(r.Measurements) != c.taken || len(logged) != c.taken {
				t.Fatalf("verdict %s after %d rounds (%v), want %s after %d: %+v\n%s", r.Verdict, r.Taken, err, c.verdict, c.taken, r, strings.Join(logged, "\n"))
			}
			for _, m := range r.Measurements {
				switch {
				case c.verdict == analysis.Inconclusive && (m.Samples == nil || *m.Samples != 0 || m.Value != nil):
					t.Errorf("an idle release's measurement: %s", m)
				case c.verdict != analysis.Inconclusive && (m.Value == nil || m.Samples == nil || *m.Samples < 10):
					t.Errorf("a measurement without its value and samples: %s", m)
				case c.verdict == analysis.Failed && (*m.Value < 0.09 || *m.Value > 0.11):
					t.Errorf("the bad release's error rate: %s, want 0.1", m)
				}
			}
			if c.verdict != analysis.Passed && !strings.Contains(r.Reason, "error-rate") {
				t.Errorf("the reason does not name the metric: %s", r.Reason)
			}
		})
	}

	t.Run("rejected", func(t *testing.T) {
		for query, want := range map[string]string{
			`sum(rate(app_requests_total[4s]`: "parse error",
			`app_requests_total`:              "returns 6 series",
		} {
			a := errorRate(0)
			a.Metrics = append(a.Metrics, pipelines.Metric{Name: "broken", Query: query, Success: "< 1"})
			err := analysis.Check(ctx, prom, a, analysis.Vars{"pods": "good-1"})
			var qe *analysis.QueryError
			if !errors.As(err, &qe) || !errors.Is(err, analysis.ErrRejected) || qe.Metric != "broken" || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), query) {
				t.Errorf("query %s: %v, want it rejected (%s) naming the metric and query", query, err, want)
			}
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gone := &analysis.Prometheus{URL: "http://" + l.Addr().String(), Token: "s3cret-token"}
		l.Close()
		m := analysis.Measure(ctx, gone, errorRate(0).Metrics[0], analysis.Vars{"pods": "good-1"}, time.Now())
		if m.Outcome != analysis.Inconclusive || !strings.Contains(m.Reason, "connection refused") || strings.Contains(m.String(), "s3cret") {
			t.Fatalf("an unreachable Prometheus: %s, want inconclusive", m)
		}
		if err := analysis.Check(ctx, gone, errorRate(0), analysis.Vars{"pods": "good-1"}); err == nil || errors.Is(err, analysis.ErrRejected) {
			t.Fatalf("check against an unreachable Prometheus: %v", err)
		}
	})
}

// TestLimits: the verdict follows the limits whatever order measurements
// arrive in; failed wins over inconclusive in the same round.
func TestLimits(t *testing.T) {
	a := &pipelines.Analysis{Count: 3, FailureLimit: 1, InconclusiveLimit: 1, Metrics: []pipelines.Metric{{Name: "a"}, {Name: "b"}}}
	m := func(metric, outcome string) analysis.Measurement {
		return analysis.Measurement{Metric: metric, Outcome: outcome}
	}
	for _, c := range []struct {
		name   string
		rounds [][]analysis.Measurement
		want   string
		taken  int
	}{
		{"all pass", [][]analysis.Measurement{
			{m("a", analysis.Passed), m("b", analysis.Passed)}, {m("a", analysis.Passed), m("b", analysis.Passed)}, {m("a", analysis.Passed), m("b", analysis.Passed)}}, analysis.Passed, 3},
		{"failures within the limit", [][]analysis.Measurement{
			{m("a", analysis.Failed), m("b", analysis.Passed)}, {m("a", analysis.Passed), m("b", analysis.Failed)}, {m("a", analysis.Inconclusive), m("b", analysis.Passed)}}, analysis.Passed, 3},
		{"two failures of one metric", [][]analysis.Measurement{
			{m("a", analysis.Failed), m("b", analysis.Passed)}, {m("a", analysis.Failed), m("b", analysis.Passed)}}, analysis.Failed, 2},
		{"failed beats inconclusive", [][]analysis.Measurement{
			{m("a", analysis.Inconclusive), m("b", analysis.Failed)}, {m("a", analysis.Inconclusive), m("b", analysis.Failed)}}, analysis.Failed, 2},
		{"two inconclusive", [][]analysis.Measurement{
			{m("a", analysis.Inconclusive), m("b", analysis.Passed)}, {m("a", analysis.Inconclusive), m("b", analysis.Passed)}}, analysis.Inconclusive, 2},
	} {
		var r analysis.Result
		for _, round := range c.rounds {
			if r.Done() {
				t.Fatalf("%s: a verdict (%s) before the last round", c.name, r.Verdict)
			}
			analysis.Record(&r, a, round)
		}
		if r.Verdict != c.want || r.Taken != c.taken {
			t.Errorf("%s: %s after %d, want %s after %d (%s)", c.name, r.Verdict, r.Taken, c.want, c.taken, r.Reason)
		}
	}
}

// TestRunResumes: a retried analysis (its result so far from the
// heartbeat) takes only the rounds left, on the schedule counted from
// when traffic moved, not from the retry.
func TestRunResumes(t *testing.T) {
	var queries atomic.Int32
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries.Add(1)
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.01"]}}`)
	}))
	t.Cleanup(prom.Close)
	a := &pipelines.Analysis{Delay: pipelines.Duration(time.Hour), Interval: pipelines.Duration(time.Hour), Count: 4,
		Metrics: []pipelines.Metric{{Name: "error-rate", Query: "x", Success: "< 0.05"}}}
	r := analysis.Result{Taken: 3, Failed: map[string]int{}, Inconclusive: map[string]int{},
		Measurements: []analysis.Measurement{{Metric: "error-rate", Outcome: analysis.Passed}, {Metric: "error-rate", Outcome: analysis.Passed}, {Metric: "error-rate", Outcome: analysis.Passed}}}
	// traffic moved four hours ago: the fourth round (at 1h + 3h) is due
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := analysis.Run(ctx, &analysis.Prometheus{URL: prom.URL}, a, nil, time.Now().Add(-4*time.Hour), &r, nil); err != nil {
		t.Fatal(err)
	}
	if r.Verdict != analysis.Passed || r.Taken != 4 || len(r.Measurements) != 4 || queries.Load() != 1 {
		t.Fatalf("resumed: %s after %d rounds, %d measurements, %d queries", r.Verdict, r.Taken, len(r.Measurements), queries.Load())
	}
}
