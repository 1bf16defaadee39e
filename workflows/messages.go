package workflows

import (
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// Message names: queries, updates and signals the Pipeline workflow handles.
// Clients (CLI, webhook server, chat adapter) use these constants.
const (
	// QueryState returns the RunState.
	QueryState = "state"
	// UpdateApprove records an approval; payload Decision, result DecisionResult.
	UpdateApprove = "approve"
	// UpdateReject rejects the release; payload Decision (Comment required).
	UpdateReject = "reject"
	// UpdateUnfreeze releases a run's production from the freeze it waits
	// for; payload Decision (Comment: the reason, required), result the
	// FreezeOverride recorded.
	UpdateUnfreeze = "unfreeze"
	// SignalPush tells a running pipeline that its branch received a newer
	// push; payload Request. Depending on the spec's concurrency the run is
	// superseded (cancel-previous) or the push waits its turn (queue).
	SignalPush = "push"
	// SignalAlert tells a running Chaos workflow of an Alertmanager
	// notification; payload AlertNotification.
	SignalAlert = "alert"
)

// AlertNotification and Alert are contract's: the Alertmanager receiver
// makes them without Temporal.
type (
	// AlertNotification is one notification Alertmanager sent.
	AlertNotification = contract.AlertNotification
	// Alert is one alert of a notification.
	Alert = contract.Alert
)

// Decision is the payload of the approve and reject updates.
type Decision struct {
	// User is the approver's identity: a CLI --as name or a chat user id.
	User    string `json:"user"`
	Comment string `json:"comment,omitempty"`
	// Via says where the decision came from and how the user was
	// established (api-token:NAME, slack, dev --as), for the audit log.
	Via string `json:"via,omitempty"`
	// Proof is the Sluice server's signature of the decision (see
	// contract.DecisionClaim); runs whose worker has a key count no
	// decision without it.
	Proof []byte `json:"proof,omitempty"`
}

// DecisionResult is what an accepted approve/reject update returns.
type DecisionResult struct {
	// Status is the approval's status after the decision.
	Status    string   `json:"status"`
	Approvals []string `json:"approvals"`
	// Remaining is how many more distinct approvals are needed.
	Remaining int `json:"remaining"`
}

// Approval statuses.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	ApprovalExpired  = "expired"
)

// ApprovalState is the approval gate of a run: who may decide, who did, and
// who was refused and why. It is part of the run's audit trail.
type ApprovalState struct {
	// For says what the decision is about when it is not the approval
	// phase's ("inconclusive analysis: …").
	For         string    `json:"for,omitempty"`
	Status      string    `json:"status"`
	Approvers   []string  `json:"approvers"`
	Required    int       `json:"required"`
	Channel     string    `json:"channel,omitempty"`
	Approvals   []Decided `json:"approvals,omitempty"`
	Rejection   *Decided  `json:"rejection,omitempty"`
	Refusals    []Refusal `json:"refusals,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Reminders   int       `json:"reminders"`
	// Message is the chat message showing the approval, once posted.
	Message contract.MessageRef `json:"message,omitzero"`
}

// Decided is one recorded decision.
type Decided struct {
	Decision
	At time.Time `json:"at"`
}

// Refusal is a decision attempt that was refused, with the reason.
type Refusal struct {
	Decision
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}
