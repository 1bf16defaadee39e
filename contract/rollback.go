package contract

import "time"

// RollbackInput asks for an earlier production release to be live again:
// a Rollback run, started by the server for a verified caller.
type RollbackInput struct {
	Pipeline  string `json:"pipeline"`
	Namespace string `json:"namespace"`
	// Context is the kubeconfig context; empty means the current one.
	Context string `json:"context,omitempty"`
	// To is the release version to bring back; 0: the one before the live
	// one.
	To int `json:"to,omitempty"`
	// By is who asked, as the server verified it ("alice (API token
	// alice-laptop)"); Reason is what they said.
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	// Project is the policy's project of the production namespace.
	Project string `json:"project,omitempty"`
	// Guard is production's guard: the release's objects are held to it
	// again.
	Guard Guard `json:"guard"`
	// Requester is the verified user who asked ("" for a client without
	// one); they never approve their own rollback.
	Requester string `json:"requester,omitempty"`
	// Approval, when set, is production's rule for rollbacks: nothing
	// changes until enough of its approvers approve.
	Approval *RollbackApproval `json:"approval,omitempty"`
}

// RollbackApproval is who must approve a rollback, how many, and for
// how long the rollback waits.
type RollbackApproval struct {
	Approvers []string      `json:"approvers"`
	Required  int           `json:"required"`
	Timeout   time.Duration `json:"timeout"`
}

// RollbackResult is the release a rollback made live.
type RollbackResult struct {
	// Version is the new release (a rollback is recorded as a release);
	// RollbackOf the one whose objects it applied again.
	Version    int    `json:"version"`
	RollbackOf int    `json:"rollback_of"`
	Commit     string `json:"commit"`
	Digest     string `json:"digest"`
}

// RollbackRelease makes an earlier release live again, once its image is
// verified to carry this installation's signature for its commit.
var RollbackRelease = Activity[RollbackInput, RollbackResult]{"RollbackRelease"}
