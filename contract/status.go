package contract

// Commit status states, as Git hosts show them.
const (
	StatusPending = "pending"
	StatusRunning = "running"
	StatusSuccess = "success"
	StatusFailure = "failure"
)

// StatusInput is one commit status update.
type StatusInput struct {
	WorkflowID  string `json:"workflow_id"`
	RunID       string `json:"run_id"`
	Repo        string `json:"repo"`
	Commit      string `json:"commit"`
	State       string `json:"state"`
	Description string `json:"description"`
}
