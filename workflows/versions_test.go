package workflows

import (
	"testing"

	"go.temporal.io/sdk/workflow"
)

// TestEpochImpliesTheNewestVersions: a run of the newest epoch takes each
// change's newest behaviour. Raising a change's version without a new
// epoch (or a GetVersion of its own) fails here instead of leaving new runs
// on the old behaviour.
func TestEpochImpliesTheNewestVersions(t *testing.T) {
	newest := map[string]workflow.Version{
		"commit-status": commitStatusVersion, "concurrent-tail": concurrentTail, "approval-policy": approvalPolicy,
		"approval-identity": approvalIdentity, "staging-release": stagingRelease, "rerun-after-worker-loss": rerunAfterWorkerLoss,
		"release": releaseVersion, "available-status": availableStatus, "pod-release-after-test": podReleaseAfterTest,
	}
	if len(newest) != len(epochImplies) {
		t.Fatalf("the epoch implies %d changes, the code has %d", len(epochImplies), len(newest))
	}
	for id, v := range newest {
		if epochImplies[id] != v {
			t.Errorf("change %q: the epoch implies version %d, the newest is %d", id, epochImplies[id], v)
		}
	}
}
