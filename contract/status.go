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

// StatusName is the commit status of a pipeline's runs: "" (the host's
// "sluice") for .sluice.yml, "sluice/<pipeline>" for one of .sluice/, so
// a monorepo's pipelines do not overwrite each other's.
func StatusName(pipeline string) string {
	if pipeline == "" {
		return ""
	}
	return "sluice/" + pipeline
}
