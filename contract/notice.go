package contract

import "time"

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
	// NoticeProductionFrozen: production waits for its freeze windows.
	NoticeProductionFrozen = "production_frozen"
)

// MessageRef locates a chat message.
type MessageRef struct {
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
}
