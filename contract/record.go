package contract

import "time"

// RunRecord is a pipeline run as Sluice's own records keep it, beyond
// Temporal's retention: who pushed what, how far it got, and every phase
// and decision, with identity. The run's workflow sends it, whole, as the
// run starts and as it ends; writing it twice changes nothing.
type RunRecord struct {
	// Kind is RecordPipeline or RecordRollback.
	Kind       string `json:"kind"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// Pipeline is the spec's name (a rollback's pipeline).
	Pipeline   string `json:"pipeline,omitempty"`
	Project    string `json:"project,omitempty"`
	Repository string `json:"repository"`
	Branch     string `json:"branch"`
	Commit     string `json:"commit"`
	Author     string `json:"author,omitempty"`
	// Committed is when the commit was made.
	Committed  time.Time `json:"committed,omitzero"`
	DeliveryID string    `json:"delivery_id,omitempty"`
	State      string    `json:"state"`
	Phase      string    `json:"phase,omitempty"`
	Error      string    `json:"error,omitempty"`
	// Image is the baked image (repository@digest); Environment the
	// furthest environment the run reached: test, staging or production.
	Image       string `json:"image,omitempty"`
	Environment string `json:"environment,omitempty"`
	// Revision is the production release the run made.
	Revision string    `json:"revision,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Seq orders the snapshots of one run: an older one never overwrites
	// a newer.
	Seq    int           `json:"seq"`
	Events []RecordEvent `json:"events,omitempty"`
}

// Kinds of RunRecord.
const (
	RecordPipeline = "pipeline"
	RecordRollback = "rollback"
	RecordChaos    = "chaos"
)

// Kinds of RecordEvent.
const (
	EventPhase    = "phase"
	EventApproval = "approval"
	EventRejected = "rejection"
	EventRefusal  = "refusal"
	EventWithheld = "withheld"
	// EventSkipped is a phase the spec's rule skipped.
	EventSkipped = "skipped"
	// EventOverride is an administrator's release of production from its
	// freeze window.
	EventOverride = "override"
	EventFailure  = "failure"
	// EventMeasurement is one value an analysis measured (Name: the
	// metric, Status: its outcome, Detail: the value); EventAnalysis its
	// verdict (Detail: why).
	EventMeasurement = "measurement"
	EventAnalysis    = "analysis"
)

// RecordEvent is one thing that happened in a run: a phase (with its
// status), a decision or a refused decision (with who, and how they were
// identified), a phase the policy withheld or a rule skipped. Key is unique within the run.
type RecordEvent struct {
	Key    string    `json:"key"`
	Kind   string    `json:"kind"`
	Name   string    `json:"name,omitempty"`
	Status string    `json:"status,omitempty"`
	Actor  string    `json:"actor,omitempty"`
	Via    string    `json:"via,omitempty"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at,omitzero"`
	// Finished is when a phase ended.
	Finished time.Time `json:"finished,omitzero"`
}

// RecordRun writes a run's record (a local activity: the worker running
// the workflow writes it).
var RecordRun = Activity[RunRecord, Nothing]{"RecordRun"}
