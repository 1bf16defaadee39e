package contract

import (
	"crypto/ed25519"
	"encoding/binary"
)

// ApprovalPolicy is what an approval gate learns from the worker when it
// opens: the approver groups of the server's configuration, and the public
// key of the Sluice server that vouches for deciders.
type ApprovalPolicy struct {
	Groups map[string][]string `json:"groups,omitempty"`
	// Key is the server's ed25519 public key. When set, a decision counts
	// only with a proof the server made after it established who decides
	// (API token, Slack signature, or the --as of single-user dev mode):
	// anyone who can reach Temporal can send an update, but cannot forge
	// the proof.
	Key []byte `json:"key,omitempty"`
}

// GetApprovalPolicy is the activity the approval gate calls as it opens.
var GetApprovalPolicy = Activity[Nothing, ApprovalPolicy]{Name: "ApprovalPolicy"}

// DecisionClaim is what a decision proof covers: the run, the verb, and
// everything the history records of the decision.
type DecisionClaim struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Approve    bool   `json:"approve"`
	// Verb, when set, is a decision other than approve or reject
	// ("unfreeze"); a proof of one verb is no proof of another.
	Verb    string `json:"verb,omitempty"`
	User    string `json:"user"`
	Comment string `json:"comment"`
	Via     string `json:"via"`
}

// decisionDomain separates decision proofs from any other use of the key.
const decisionDomain = "sluice decision v1\n"

// message is the signed bytes: the domain, then each field length-prefixed,
// so no two claims share an encoding.
func (c DecisionClaim) message() []byte {
	verb := "reject"
	if c.Approve {
		verb = "approve"
	}
	if c.Verb != "" {
		verb = c.Verb
	}
	b := []byte(decisionDomain)
	for _, f := range []string{c.WorkflowID, c.RunID, verb, c.User, c.Comment, c.Via} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// Sign returns the proof of c under key.
func (c DecisionClaim) Sign(key ed25519.PrivateKey) []byte {
	return ed25519.Sign(key, c.message())
}

// Verify reports whether proof is key's signature of c. It is pure
// computation, safe in workflow code.
func (c DecisionClaim) Verify(key, proof []byte) bool {
	return len(key) == ed25519.PublicKeySize && ed25519.Verify(key, c.message(), proof)
}
