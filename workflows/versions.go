package workflows

import "go.temporal.io/sdk/workflow"

// Every change that alters a run's commands is behind workflow.GetVersion,
// so histories recorded before it replay. Each GetVersion call a run makes
// the first time costs a marker and a search attribute upsert (a visibility
// write on the server): a run started on this release records one version,
// the epoch, which implies every change before it, instead of one per
// change.
const (
	// epochChanges is the epoch that implies the versions of epochImplies.
	epochChanges workflow.Version = 1
	// workerProgress (epoch 2): a phase after the first gets its "running"
	// commit status from the worker that runs its activity (phaseDef's
	// progress) instead of from a workflow timer and a status activity, and
	// the approval policy is read by a local activity. Neither costs the
	// run a task of its own.
	workerProgress workflow.Version = 2
	// firstProgress (epoch 3): the first phase's "running" status is sent
	// at once by the worker that runs the phase's activity, as a later
	// phase's is after a while, instead of by an activity of its own beside
	// the phase's (a phase without a single activity, approval or chaos,
	// keeps the activity).
	firstProgress workflow.Version = 3
	// uniqueNamespace (epoch 4): a run's test namespace ends in the random
	// tail of its run id instead of the head, which is the run's start
	// time in milliseconds (UUIDv7): two runs of one pipeline started in
	// the same millisecond shared a namespace.
	uniqueNamespace workflow.Version = 4
	// runRecords (epoch 5): a run writes its record to Sluice's records
	// (contract.RecordRun, a local activity) as it starts and as it ends.
	runRecords workflow.Version = 5
	// runQuotas (epoch 6): a run whose project limits its concurrent runs
	// waits for a slot of the project's Quota workflow before its first
	// phase and gives it back as it ends (quota.go).
	runQuotas workflow.Version = 6
	// epoch is the newest epoch. A later change adds its own GetVersion
	// (or a new epoch: behaviour new in epoch N is taken when r.epoch >= N).
	epoch = runQuotas
)

// stagingRelease (change "staging-release") releases into a staging
// deploy environment (context, strategy, undo) instead of only applying.
const stagingRelease = 1

// availableStatus (change "available-status") sets a commit status of its
// own once the image is marked available.
const availableStatus = 1

// epochImplies is what a run of epochChanges takes for each change, fixed
// once recorded: raising a change's version later must not change what
// the runs of this epoch replay.
var epochImplies = map[string]workflow.Version{
	"commit-status": 4, "concurrent-tail": 1, "approval-policy": 1, "approval-identity": 1,
	"staging-release": 1, "rerun-after-worker-loss": 1, "release": 1, "available-status": 1,
	"pod-release-after-test": 1,
}

// startEpoch records the run's epoch: the first thing a run does. A
// history recorded before epochs has no marker for it and replays with
// DefaultVersion, taking every change's own GetVersion.
func (r *run) startEpoch(ctx workflow.Context) {
	r.epoch = workflow.GetVersion(ctx, "epoch", workflow.DefaultVersion, epoch)
}

// version is change changeID's version for this run: what the run's epoch
// implies for it, else what workflow.GetVersion records for it.
func (r *run) version(ctx workflow.Context, changeID string, max workflow.Version) workflow.Version {
	if v, ok := epochImplies[changeID]; ok && r.epoch >= epochChanges {
		return v
	}
	return workflow.GetVersion(ctx, changeID, workflow.DefaultVersion, max)
}
