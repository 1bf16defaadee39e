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
	// Name is the status's name on the commit (empty: "sluice", the run's).
	Name string `json:"name,omitempty"`
}

// StatusAvailable names the commit status promote sets when the commit's
// image is marked available.
const StatusAvailable = "sluice/available"
