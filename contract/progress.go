package contract

import "time"

// Progress is the commit status a phase's activity sets itself once it has
// run for After: the phase's "running" status, sent by the worker that
// runs the phase instead of by a workflow timer and a status activity of
// its own, so a phase that ends sooner costs nothing and one that runs
// longer costs no workflow task. A zero After (the run's first phase) sets
// it at once, however soon the phase ends.
type Progress struct {
	Status StatusInput   `json:"status"`
	After  time.Duration `json:"after"`
}

// PhaseProgress is embedded in the input of each activity that runs a
// whole phase. A nil Progress reports nothing: the workflow sends the
// phase's status itself (runs recorded before the worker reported
// progress, and the first phase of runs recorded before epoch 3).
type PhaseProgress struct {
	Progress *Progress `json:"progress,omitempty"`
}

// ProgressReport is the status to set once the activity has run for a while.
func (p PhaseProgress) ProgressReport() *Progress { return p.Progress }

// SetProgress sets the status to report.
func (p *PhaseProgress) SetProgress(pr *Progress) { p.Progress = pr }

// ProgressReporter is an activity input that may carry a Progress.
type ProgressReporter interface {
	ProgressReport() *Progress
}
