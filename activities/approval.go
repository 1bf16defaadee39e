package activities

import (
	"context"
	"crypto/ed25519"

	"github.com/sluice-cd/sluice/contract"
)

// Approvals answers an approval gate from the worker's configuration.
type Approvals struct {
	// Groups are the configuration's approver groups.
	Groups map[string][]string
	// Key is the public half of the server's decision key.
	Key ed25519.PublicKey
}

// Policy implements contract.GetApprovalPolicy.
func (a *Approvals) Policy(context.Context, contract.Nothing) (contract.ApprovalPolicy, error) {
	return contract.ApprovalPolicy{Groups: a.Groups, Key: a.Key}, nil
}
