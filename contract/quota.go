package contract

// Execution names one run of a workflow.
type Execution struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// Quota is what the server's policy lets a project's runs hold at once.
type Quota struct {
	// Runs is the most runs of the project at once (0: no limit); the
	// others wait in arrival order.
	Runs int `json:"runs,omitempty"`
	// All is the most runs of every project at once (the installation's
	// cap, 0: none); a run takes its slot after its project's.
	All int `json:"all,omitempty"`
	// PoolPods is the most pods of each pool (by name) the project's runs
	// hold at once.
	PoolPods map[string]int `json:"pool_pods,omitempty"`
	// TestEnvironments is the most test environments of the project at
	// once (0: no limit); a run's deploy waits for one.
	TestEnvironments int `json:"test_environments,omitempty"`
}

// QuotaRequest asks the project's semaphore (the Quota workflow) for a
// slot for run, starting the semaphore if need be.
type QuotaRequest struct {
	Project string    `json:"project"`
	Run     Execution `json:"run"`
	Limit   int       `json:"limit"`
}

// QuotaAcquire signals a run's ask to its project's Quota workflow; the
// grant comes back as a signal.
var QuotaAcquire = Activity[QuotaRequest, Nothing]{"QuotaAcquire"}

// QuotaEnded returns which of the runs have ended (closed in Temporal, or
// unknown to it).
var QuotaEnded = Activity[[]Execution, []Execution]{"QuotaEnded"}
