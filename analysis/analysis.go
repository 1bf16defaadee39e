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
	"strconv"
	"time"

	"github.com/sluice-cd/sluice/pipelines"
)

// Outcomes of one measurement and verdicts of an analysis.
const (
	Passed       = "passed"
	Failed       = "failed"
	Inconclusive = "inconclusive"
	// Running: the analysis has measurements left to take.
	Running = "running"
)

// Measurement is one metric's value at one time.
type Measurement struct {
	At     time.Time `json:"at"`
	Metric string    `json:"metric"`
	// Value is the query's value; nil when there was none.
	Value *float64 `json:"value,omitempty"`
	// Samples is the samples query's value, when the metric has one.
	Samples *float64 `json:"samples,omitempty"`
	Outcome string   `json:"outcome"`
	// Reason says why a measurement failed or was inconclusive.
	Reason string `json:"reason,omitempty"`
}

// String is the measurement as the run log shows it.
func (m Measurement) String() string {
	s := fmt.Sprintf("%s = ", m.Metric)
	if m.Value != nil {
		s += strconv.FormatFloat(*m.Value, 'g', 6, 64)
	} else {
		s += "?"
	}
	if m.Samples != nil {
		s += fmt.Sprintf(" (%s samples)", strconv.FormatFloat(*m.Samples, 'g', 6, 64))
	}
	s += ": " + m.Outcome
	if m.Reason != "" {
		s += " (" + m.Reason + ")"
	}
	return s
}

// Result is an analysis so far: every measurement, the counts per metric,
// and the verdict.
type Result struct {
	Verdict string `json:"verdict"`
	// Reason says what decided a verdict other than passed.
	Reason string `json:"reason,omitempty"`
	// Taken is how many rounds of measurements were taken.
	Taken        int            `json:"taken"`
	Failed       map[string]int `json:"failed,omitempty"`
	Inconclusive map[string]int `json:"inconclusive,omitempty"`
	Measurements []Measurement  `json:"measurements,omitempty"`
}

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
		if n < m.MinSamples {
			out.Outcome, out.Reason = Inconclusive, fmt.Sprintf("fewer samples than %g", m.MinSamples)
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
func (r *Result) Record(a *pipelines.Analysis, round []Measurement) {
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
	if r.Verdict == Inconclusive && r.failed(a) {
		r.Verdict = Failed
	}
	if r.Verdict == "" && r.Taken >= a.Count {
		r.Verdict = Passed
	}
}

func (r *Result) failed(a *pipelines.Analysis) bool {
	for _, n := range r.Failed {
		if n > a.FailureLimit {
			return true
		}
	}
	return false
}

// Done reports whether the analysis has a verdict.
func (r *Result) Done() bool { return r.Verdict != "" && r.Verdict != Running }

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
		r.Record(a, round)
		if each != nil {
			each(r, round)
		}
	}
	return nil
}
