package workflows

// Metrics the workflows record through the SDK's workflow metrics handler,
// which drops them while a history is replayed: each is counted once
// however often a run's history is replayed on other workers. The worker's
// handler serves them under these names (see package metrics).
const (
	// MetricApprovalWait is how long each approval waited for its
	// decision, by outcome (approved, rejected, expired).
	MetricApprovalWait = "sluice_approval_wait"
	// MetricCompensations counts undo activities run by compensation, by
	// phase and outcome.
	MetricCompensations = "sluice_compensations_total"
)
