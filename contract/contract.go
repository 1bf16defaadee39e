// Package contract is what workflows and activities exchange: the typed
// references to every activity (name, input and result types), their inputs
// and results, and the error type names both sides recognise.
//
// It is a leaf: it imports the standard library and pipelines only, so the
// workflows package can depend on it without reaching client-go, BuildKit,
// os/exec, Git or chat clients. The worker binds each reference to its
// implementation with a compile-time type check (worker.Register).
package contract

// Activity is a typed reference to a registered activity that takes In and
// returns Out. Workflows call it through workflows' call helper; the worker
// registers the implementation under Name. Renaming a Go method therefore
// changes nothing a running workflow depends on.
type Activity[In, Out any] struct{ Name string }

// Undo is a typed reference to a compensating activity: it takes In, returns
// only an error, and must be idempotent (running it twice, or for something
// that never happened, is fine).
type Undo[In any] struct{ Name string }

// Nothing is the result of activities that return only an error.
type Nothing struct{}

// The activities. Names are the ones recorded in every run's history: never
// change one (old runs would no longer replay); add a new reference instead.
var (
	// RunSteps runs a phase's commands (build and test) in the run's workspace.
	RunSteps = Activity[StepsInput, StepsResult]{"Run"}
	// Bake builds the image with BuildKit and pushes it.
	Bake = Activity[BakeInput, BakeResult]{"Bake"}
	// Deploy applies the manifests to an environment and waits for rollout.
	Deploy = Activity[DeployInput, DeployResult]{"Deploy"}
	// Integration runs the integration job against the deployment.
	Integration = Activity[IntegrationInput, IntegrationResult]{"Integration"}
	// MarkAvailable tags the tested digest as available.
	MarkAvailable = Activity[PromoteInput, PromoteResult]{"MarkAvailable"}
	// Production releases to the production environment.
	Production = Activity[ProductionInput, ProductionResult]{"Production"}
	// Analyze judges a production release by its metrics (or, with
	// Check, tries its queries before the release).
	Analyze = Activity[AnalysisInput, AnalysisResult]{"Analyze"}
	// SetCanaryWeight moves a canary release to a step's weight.
	SetCanaryWeight = Activity[CanaryInput, Nothing]{"SetCanaryWeight"}
	// PromoteCanary makes a canary the live release.
	PromoteCanary = Activity[ReleaseRef, Nothing]{"PromoteCanary"}
	// RetireRelease scales down the blue-green color a release replaced.
	RetireRelease = Activity[ReleaseRef, Nothing]{"RetireRelease"}
	// SendNotice records a notice in the run's log and posts it to chat.
	SendNotice = Activity[Notice, MessageRef]{"Send"}
	// StartPipeline starts or hands over a dispatched push to its branch's
	// run (the Dispatch workflow's one activity; it needs a Temporal
	// client, which workflows must not hold).
	StartPipeline = Activity[Request, DispatchResult]{"StartPipeline"}
	// StartScheduled builds a scheduled run's request, under the worker's
	// configuration, from the branch's head at the time, and starts it.
	StartScheduled = Activity[ScheduledRun, DispatchResult]{"StartScheduled"}
	// SetCommitStatus reports the run's state on the pushed commit.
	SetCommitStatus = Activity[StatusInput, Nothing]{"SetStatus"}
	// ChaosObserve probes a chaos experiment's target for a while.
	ChaosObserve = Activity[ObserveInput, Observation]{"ChaosObserve"}
	// LoadExperiments reads and checks the chaos phase's experiment files.
	LoadExperiments = Activity[ExperimentsInput, []Experiment]{"LoadExperiments"}
	// InjectFault injects one fault of a chaos experiment.
	InjectFault = Activity[FaultInput, FaultResult]{"InjectFault"}

	// ReleaseWorkspace frees a run's workspace once nothing needs it.
	ReleaseWorkspace = Undo[WorkspaceRef]{"Cleanup"}
	// DeleteEnvironment deletes a run's ephemeral test environment.
	DeleteEnvironment = Undo[EnvironmentRef]{"DeleteEnvironment"}
	// RemoveTag removes the available tag promote added.
	RemoveTag = Undo[TagRef]{"RemoveTag"}
	// UndoRelease brings back the release a run's production release replaced.
	UndoRelease = Undo[ReleaseRef]{"UndoRelease"}
	// RemoveFault lifts what InjectFault did.
	RemoveFault = Undo[FaultInput]{"RemoveFault"}
)

// ActivityNames lists every activity a worker must register: the check that
// no reference above is left without an implementation.
func ActivityNames() []string {
	return []string{
		RunSteps.Name, Bake.Name, Deploy.Name, Integration.Name, MarkAvailable.Name,
		Production.Name, SendNotice.Name, SetCommitStatus.Name,
		ReleaseWorkspace.Name, DeleteEnvironment.Name, RemoveTag.Name,
		RetireRelease.Name, UndoRelease.Name,
		ChaosObserve.Name, LoadExperiments.Name, InjectFault.Name, RemoveFault.Name,
		RollbackRelease.Name, SizePool.Name,
	}
}
