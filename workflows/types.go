// Package workflows holds Sluice's deterministic orchestration: the Pipeline
// workflow, its compensation stack and approval gate, and the message names
// clients use. It talks to the world only through activities.
package workflows

import (
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// TaskQueue is the queue Sluice workers poll.
const TaskQueue = "sluice"

// Push and Request are contract's: the request builder makes them without
// Temporal, and every history records them by these shapes.
type (
	// Push is one Git push that asks for a run.
	Push = contract.Push
	// Request is a push together with the spec read from its commit.
	Request = contract.Request
)

// PipelineInput starts a Pipeline workflow.
type PipelineInput struct {
	Request
	// Groups maps approver group names to user ids, as the server's
	// configuration defines them at start time.
	Groups map[string][]string `json:"groups,omitempty"`
	// Resume, when set, makes this run a retry: phases before Resume.Phase
	// are not run again and their outputs are reused.
	Resume *Resume `json:"resume,omitempty"`
	// Queue holds pushes waiting for this branch (concurrency: queue); it
	// travels across continue-as-new.
	Queue []Request `json:"queue,omitempty"`
	// Seen lists the delivery ids and commits the branch's earlier runs in
	// this chain handled, so a redelivered push is recognised. Bounded.
	Seen []string `json:"seen,omitempty"`
}

// Resume is where a retry starts.
type Resume struct {
	FromRun string  `json:"from_run"`
	Phase   string  `json:"phase"`
	Outputs Outputs `json:"outputs"`
}

// Outputs are the artifacts phases produce and later phases consume.
type Outputs struct {
	// Workspace is the executor's handle on the checked-out commit (build).
	Workspace contract.Workspace `json:"workspace,omitzero"`
	// Artifacts is the build's artifact (repository@digest) for bake.
	Artifacts string `json:"artifacts,omitempty"`
	// TestSummary is a one-line summary of the unit tests (test).
	TestSummary string `json:"test_summary,omitempty"`
	// Image is the pushed image repository and tag; Digest its content digest (bake).
	Image  string `json:"image,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Environment is the test namespace (deploy).
	Environment string `json:"environment,omitempty"`
	// IntegrationSummary summarises the integration job (integration).
	IntegrationSummary string `json:"integration_summary,omitempty"`
	// ChaosSummary names the experiments that passed (chaos).
	ChaosSummary string `json:"chaos_summary,omitempty"`
	// AvailableTag is the tag that marks the digest available (promote).
	AvailableTag string `json:"available_tag,omitempty"`
	// Replica is the production registry's repository holding the digest (promote).
	Replica string `json:"replica,omitempty"`
	// ApprovedBy lists the approvers (approval).
	ApprovedBy []string `json:"approved_by,omitempty"`
	// ProductionRevision is the released revision (production).
	ProductionRevision string `json:"production_revision,omitempty"`
	// Analysis is production.analysis's verdict and every value it
	// measured (production).
	Analysis *contract.AnalysisResult `json:"analysis,omitempty"`
	// Canary says where a canary release stands (production).
	Canary string `json:"canary,omitempty"`
	// Passed maps each job cell that passed (pipelines.Cell.Name) to its
	// summary: a retry, or a phase run again after its worker was lost,
	// runs only the cells not in it.
	Passed map[string]string `json:"passed,omitempty"`
	// JobArtifacts maps each passed cell that kept artifacts to them
	// (repository@digest): the jobs that need it and bake get them.
	JobArtifacts map[string]string `json:"job_artifacts,omitempty"`
}

// Run states as the CLI and API report them.
const (
	StateRunning          = "running"
	StateAwaitingApproval = "awaiting_approval"
	StateSucceeded        = "succeeded"
	StateFailed           = "failed"
	StateCancelled        = "cancelled"
	StateRejected         = "rejected"
	StateTimedOut         = "timed_out"
)

// Phase statuses.
const (
	PhasePending     = "pending"
	PhaseRunning     = "running"
	PhaseSucceeded   = "succeeded"
	PhaseFailed      = "failed"
	PhaseCancelled   = "cancelled"
	PhaseReused      = "reused"
	PhaseCompensated = "compensated"
)

// JobSkipped is a job cell that did not run: a job it needs did not pass.
const JobSkipped = "skipped"

// JobState is one cell of a phase's jobs: its status is a phase status
// (pending, running, succeeded, failed, cancelled, reused) or JobSkipped.
type JobState struct {
	Phase    string    `json:"phase"`
	Name     string    `json:"name"`
	Status   string    `json:"status"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Summary  string    `json:"summary,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// PhaseState is one phase of a run.
type PhaseState struct {
	Name     string    `json:"name"`
	Status   string    `json:"status"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// Duration is how long the phase ran (so far, if running at now).
func (p PhaseState) Duration(now time.Time) time.Duration {
	if p.Started.IsZero() {
		return 0
	}
	if p.Finished.IsZero() {
		return now.Sub(p.Started)
	}
	return p.Finished.Sub(p.Started)
}

// RunState is everything a client can know about a run. It is the `state`
// query's answer, the workflow's result, and the details of its failure.
type RunState struct {
	Request  Request        `json:"request"`
	State    string         `json:"state"`
	Phase    string         `json:"phase,omitempty"`
	Phases   []PhaseState   `json:"phases"`
	Outputs  Outputs        `json:"outputs"`
	Approval *ApprovalState `json:"approval,omitempty"`
	// Gates are the decisions asked of people before Approval, the one
	// open or decided last (the approval phase's, when an inconclusive
	// analysis asked again).
	Gates []ApprovalState `json:"gates,omitempty"`
	// Undo is the compensation stack, oldest first.
	Undo []Undo `json:"undo,omitempty"`
	// Compensated records the undo steps that ran, in the order they ran.
	Compensated []UndoResult `json:"compensated,omitempty"`
	Error       string       `json:"error,omitempty"`
	// SupersededBy is the commit of the push that cancelled this run.
	SupersededBy string `json:"superseded_by,omitempty"`
	// Queued says where the run waits for its project's quota
	// ("queued: 3rd of project payments (2 running)"); empty once it runs.
	Queued string `json:"queued,omitempty"`
	// Frozen says until when production waits for its freeze windows
	// ("frozen until 2026-12-27T00:00:00Z (deny window holidays)").
	Frozen string `json:"frozen,omitempty"`
	// FreezeOverride is who released production from its freeze, and why.
	FreezeOverride *FreezeOverride `json:"freeze_override,omitempty"`
	// Jobs are the cells of test's jobs, in the spec's order.
	Jobs        []JobState `json:"jobs,omitempty"`
	ResumedFrom string     `json:"resumed_from,omitempty"`
	Started     time.Time  `json:"started"`
	Finished    time.Time  `json:"finished,omitzero"`
}

// PhaseByName returns the named phase's state.
func (s *RunState) PhaseByName(name string) *PhaseState {
	for i := range s.Phases {
		if s.Phases[i].Name == name {
			return &s.Phases[i]
		}
	}
	return nil
}

// FreezeOverride is an administrator's release of a run's production from
// the freeze it waited for.
type FreezeOverride struct {
	User   string    `json:"user"`
	Via    string    `json:"via,omitempty"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Until is when the freeze would have ended.
	Until string `json:"until"`
}
