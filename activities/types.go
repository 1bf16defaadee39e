// Package activities adapts workflow calls to the libraries that touch the
// world: Git, the step executor, the log store, and (as they arrive) the
// image builder, Kubernetes and chat. Each activity struct holds its clients;
// the worker builds it once. Errors are classified here: a problem with the
// run's input is non-retryable, a transient failure is returned as is and
// Temporal retries it.
package activities

import "time"

// Error types that the workflow and clients recognise. All are non-retryable.
const (
	// ErrStepFailed: a command exited non-zero or timed out.
	ErrStepFailed = "StepFailed"
	// ErrInvalidInput: the activity was called with input it can never accept.
	ErrInvalidInput = "InvalidInput"
	// ErrNotConfigured: the phase needs a component this worker was not given.
	ErrNotConfigured = "NotConfigured"
	// ErrUnsupported: this version of Sluice cannot run the phase.
	ErrUnsupported = "Unsupported"
	// ErrSource: the commit could not be checked out (missing commit, bad URL).
	ErrSource = "SourceUnavailable"
)

// Source says which commit of which repository a run builds.
type Source struct {
	CloneURL string `json:"clone_url"`
	Commit   string `json:"commit"`
}

// StepsInput runs a phase's commands in the run's workspace.
type StepsInput struct {
	// RunID keys the workspace and the log of the run.
	RunID  string `json:"run_id"`
	Phase  string `json:"phase"`
	Source Source `json:"source"`
	// Workspace is the handle returned by an earlier phase; empty means
	// prepare a new one from Source.
	Workspace string            `json:"workspace,omitempty"`
	Commands  []string          `json:"commands"`
	Env       map[string]string `json:"env,omitempty"`
	// Timeout bounds each command.
	Timeout time.Duration `json:"timeout"`
	// JUnit is a report path, relative to the workspace, for the summary.
	JUnit string `json:"junit,omitempty"`
}

// StepResult is one command's outcome.
type StepResult struct {
	Command  string        `json:"command"`
	ExitCode int           `json:"exit_code"`
	Duration time.Duration `json:"duration"`
}

// StepsResult is a phase's outcome.
type StepsResult struct {
	Workspace string       `json:"workspace"`
	Steps     []StepResult `json:"steps"`
	Summary   string       `json:"summary"`
}

// PhaseInput is what the platform phases (bake, deploy, integration,
// promote, production) receive.
type PhaseInput struct {
	RunID     string `json:"run_id"`
	Phase     string `json:"phase"`
	Source    Source `json:"source"`
	Workspace string `json:"workspace,omitempty"`
	// Image and Digest come from bake.
	Image  string `json:"image,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Namespace is the Kubernetes namespace the phase works in.
	Namespace string `json:"namespace,omitempty"`
	// Manifests is the manifest directory relative to the workspace.
	Manifests string `json:"manifests,omitempty"`
	// Tag is the tag promote adds.
	Tag string `json:"tag,omitempty"`
	// Commands run by integration and production verification.
	Commands []string          `json:"commands,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	Strategy string            `json:"strategy,omitempty"`
	// Dockerfile, Context and BuildArgs configure bake.
	Dockerfile string            `json:"dockerfile,omitempty"`
	Context    string            `json:"context,omitempty"`
	BuildArgs  map[string]string `json:"build_args,omitempty"`
}

// PhaseResult is what a platform phase produced.
type PhaseResult struct {
	Image     string `json:"image,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Revision  string `json:"revision,omitempty"`
	Summary   string `json:"summary,omitempty"`
}

// UndoInput is what a compensation receives. Every compensation is
// idempotent: running it twice, or for something that never happened, is fine.
type UndoInput struct {
	RunID     string `json:"run_id"`
	Namespace string `json:"namespace,omitempty"`
	Image     string `json:"image,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Tag       string `json:"tag,omitempty"`
	Workspace string `json:"workspace,omitempty"`
}

// Notice is a message about a run for the people watching it.
type Notice struct {
	RunID string `json:"run_id"`
	// Kind is one of the Notice* constants.
	Kind      string    `json:"kind"`
	Repo      string    `json:"repo"`
	Branch    string    `json:"branch"`
	Commit    string    `json:"commit"`
	Author    string    `json:"author,omitempty"`
	Phase     string    `json:"phase,omitempty"`
	Approvers []string  `json:"approvers,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Text is the human summary (who decided, why it failed).
	Text string `json:"text,omitempty"`
	// WorkflowID with RunID names the run for links and buttons.
	WorkflowID string `json:"workflow_id,omitempty"`
	// Digest and Environment describe what is being approved.
	Digest      string `json:"digest,omitempty"`
	Environment string `json:"environment,omitempty"`
	// Phases summarises finished phases with durations ("build 1.2s, test 0.8s").
	Phases string `json:"phases,omitempty"`
	// State is the run's final state (run_finished).
	State string `json:"state,omitempty"`
	// Message is the approval message to edit or reply under.
	Message MessageRef `json:"message,omitzero"`
}

// Notice kinds.
const (
	NoticeApprovalRequested = "approval_requested"
	NoticeApprovalReminder  = "approval_reminder"
	NoticeApprovalDecided   = "approval_decided"
	NoticeApprovalExpired   = "approval_expired"
	NoticeRunFinished       = "run_finished"
)
