package contract

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sluice-cd/sluice/pipelines"
)

// AnalysisInput judges a run's production release by its metrics
// (pipelines.Analysis) against the worker's Prometheus.
type AnalysisInput struct {
	PhaseProgress
	RunID     string             `json:"run_id"`
	Pipeline  string             `json:"pipeline"`
	Namespace string             `json:"namespace"`
	Context   string             `json:"context,omitempty"`
	Analysis  pipelines.Analysis `json:"analysis"`
	// Check evaluates every query once, before the release, and fails
	// naming one Prometheus rejects; nothing is measured.
	Check bool `json:"check,omitempty"`
	// Started is when traffic moved to the release: delay and intervals
	// count from it, so a retried analysis keeps its schedule.
	Started time.Time `json:"started,omitzero"`
}

// Outcomes of one measurement and verdicts of an analysis.
const (
	AnalysisPassed       = "passed"
	AnalysisFailed       = "failed"
	AnalysisInconclusive = "inconclusive"
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

// AnalysisResult is an analysis so far: every measurement, the counts per
// metric, and the verdict ("" while measurements are left to take).
type AnalysisResult struct {
	Verdict string `json:"verdict,omitempty"`
	// Reason says what decided a verdict other than passed.
	Reason string `json:"reason,omitempty"`
	// Taken is how many rounds of measurements were taken.
	Taken        int            `json:"taken"`
	Failed       map[string]int `json:"failed,omitempty"`
	Inconclusive map[string]int `json:"inconclusive,omitempty"`
	Measurements []Measurement  `json:"measurements,omitempty"`
	// Release is the release judged (its number) and Pods the pattern its
	// pods matched.
	Release int    `json:"release,omitempty"`
	Pods    string `json:"pods,omitempty"`
}

// Done reports whether the analysis has a verdict.
func (r *AnalysisResult) Done() bool { return r.Verdict != "" }
