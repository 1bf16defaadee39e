// Package analysis judges a release by its metrics, the way Argo Rollouts'
// AnalysisRuns and Kayenta do: every interval each metric's PromQL query
// is evaluated and its value held to a success condition; failed and
// inconclusive measurements are counted against limits. Missing data is
// never a pass: an empty result, NaN (no traffic), too few samples and an
// unreachable Prometheus are inconclusive. Every measured value is kept.
// No Temporal here; the activity adapts it.
package analysis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// Outcomes of one measurement and verdicts of an analysis.
const (
	Passed       = contract.AnalysisPassed
	Failed       = contract.AnalysisFailed
	Inconclusive = contract.AnalysisInconclusive
)

// Measurement is one metric's value at one time; Result an analysis so far.
type (
	Measurement = contract.Measurement
	Result      = contract.AnalysisResult
)

// Vars are the values of a query's placeholders (pipelines.AnalysisVars).
type Vars map[string]string

// Measure evaluates m once.
func Measure(ctx context.Context, p *Prometheus, m pipelines.Metric, vars Vars, now time.Time) Measurement {
	out := Measurement{At: now.UTC(), Metric: m.Name}
	cond, err := pipelines.ParseCondition(m.Success)
	if err != nil {
		out.Outcome, out.Reason = Failed, err.Error()
		return out
	}
	if m.Samples != "" {
		n, err := p.Query(ctx, pipelines.ExpandQuery(m.Samples, vars), now)
		if err != nil && !errors.Is(err, ErrNoValue) {
			out.Outcome, out.Reason = Inconclusive, "samples: "+err.Error()
			return out
		}
		out.Samples = &n
		if n < float64(m.MinSamples) {
			out.Outcome, out.Reason = Inconclusive, fmt.Sprintf("fewer samples than %d", m.MinSamples)
			return out
		}
	}
	v, err := p.Query(ctx, pipelines.ExpandQuery(m.Query, vars), now)
	if err != nil {
		out.Outcome, out.Reason = Inconclusive, err.Error()
		return out
	}
	out.Value = &v
	if cond.Holds(v) {
		out.Outcome = Passed
	} else {
		out.Outcome, out.Reason = Failed, "not "+cond.String()
	}
	return out
}

// Check evaluates every query of a once and returns an error naming the
// first one Prometheus rejects or cannot answer at all, so a release
// never moves traffic on an analysis that cannot judge it. A query with
// no value yet (the new pods are not scraped) is fine.
func Check(ctx context.Context, p *Prometheus, a *pipelines.Analysis, vars Vars) error {
	for _, m := range a.Metrics {
		for _, q := range []struct{ key, query string }{{"query", m.Query}, {"samples", m.Samples}} {
			if q.query == "" {
				continue
			}
			expanded := pipelines.ExpandQuery(q.query, vars)
			if _, err := p.Query(ctx, expanded, time.Time{}); err != nil && !errors.Is(err, ErrNoValue) {
				return &QueryError{Metric: m.Name, Key: q.key, Query: expanded, Err: err}
			}
		}
	}
	return nil
}

// QueryError names the query an analysis cannot use.
type QueryError struct {
	Metric, Key, Query string
	Err                error
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("production.analysis metric %q (%s %s): %v", e.Metric, e.Key, e.Query, e.Err)
}

func (e *QueryError) Unwrap() error { return e.Err }

// Record adds one round of measurements to r and decides its verdict
// under a's limits: failed as soon as a metric fails more than
// failure-limit times, inconclusive as soon as one is inconclusive more
// than inconclusive-limit times, passed when count rounds are taken.
func Record(r *Result, a *pipelines.Analysis, round []Measurement) {
	if r.Failed == nil {
		r.Failed, r.Inconclusive = map[string]int{}, map[string]int{}
	}
	r.Taken++
	r.Measurements = append(r.Measurements, round...)
	for _, m := range round {
		switch m.Outcome {
		case Failed:
			r.Failed[m.Metric]++
			if r.Failed[m.Metric] > a.FailureLimit && r.Verdict != Failed {
				r.Verdict, r.Reason = Failed, fmt.Sprintf("%s failed %d of %d measurements (failure-limit %d): %s", m.Metric, r.Failed[m.Metric], r.Taken, a.FailureLimit, m)
			}
		case Inconclusive:
			r.Inconclusive[m.Metric]++
			if r.Inconclusive[m.Metric] > a.InconclusiveLimit && r.Verdict == "" {
				r.Verdict, r.Reason = Inconclusive, fmt.Sprintf("%s was inconclusive %d of %d times (inconclusive-limit %d): %s", m.Metric, r.Inconclusive[m.Metric], r.Taken, a.InconclusiveLimit, m)
			}
		}
	}
	if r.Verdict == Inconclusive && failed(r, a) {
		r.Verdict = Failed
	}
	if r.Verdict == "" && r.Taken >= a.Count {
		r.Verdict = Passed
	}
}

func failed(r *Result, a *pipelines.Analysis) bool {
	for _, n := range r.Failed {
		if n > a.FailureLimit {
			return true
		}
	}
	return false
}

// Run takes the rest of a's measurements (resuming r), one round every
// interval after the delay (counted from start), calling each after every
// round; it returns when a verdict is reached or ctx ends.
func Run(ctx context.Context, p *Prometheus, a *pipelines.Analysis, vars Vars, start time.Time, r *Result, each func(*Result, []Measurement)) error {
	for !r.Done() {
		next := start.Add(a.Delay.D() + time.Duration(r.Taken)*a.Interval.D())
		if wait := time.Until(next); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		now := time.Now()
		round := make([]Measurement, 0, len(a.Metrics))
		for _, m := range a.Metrics {
			round = append(round, Measure(ctx, p, m, vars, now))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		Record(r, a, round)
		if each != nil {
			each(r, round)
		}
	}
	return nil
}
