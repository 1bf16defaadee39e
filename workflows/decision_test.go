package workflows

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/contract"
)

// Temporal's test environment names every run this way.
const testRunID = "default-test-run-id"

// TestOnlyServerSignedDecisionsCount: with a decision key, an update sent
// to Temporal directly (anyone on the port can) does not count, nor does a
// proof made for another run or the other verb; the server's proof does.
func TestOnlyServerSignedDecisionsCount(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	h := newHarness(t)
	h.policy.Key = pub
	id := WorkflowID("acme/hello", "main")
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	claim := contract.DecisionClaim{WorkflowID: id, RunID: testRunID, Approve: true, User: "alice", Via: "api-token:alice"}
	signed := func(c contract.DecisionClaim) Decision {
		return Decision{User: "alice", Via: "api-token:alice", Proof: c.Sign(priv)}
	}
	otherRun, rejectProof, forgedUser := claim, claim, claim
	otherRun.RunID = "another-run"
	rejectProof.Approve = false
	forgedUser.User = "mallory"
	refused := []*updateResult{
		h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice", Via: "cli"}),
		h.decideAt(t, time.Hour+time.Minute, UpdateApprove, signed(otherRun)),
		h.decideAt(t, time.Hour+2*time.Minute, UpdateApprove, signed(rejectProof)),
		h.decideAt(t, time.Hour+3*time.Minute, UpdateApprove, Decision{User: "mallory", Via: "api-token:alice", Proof: forgedUser.Sign(priv)[:10]}),
	}
	ok := h.decideAt(t, 2*time.Hour, UpdateApprove, signed(claim))
	h.env.ExecuteWorkflow(Pipeline, approvalOnly(t, 1))
	st, err := h.result(t)
	if err != nil || st.State != StateSucceeded {
		t.Fatalf("state %s err %v", st.State, err)
	}
	for i, u := range refused {
		if u.accepted || u.rejected == nil || !strings.Contains(u.rejected.Error(), "not verified") {
			t.Errorf("unverified decision %d: %+v", i, u)
		}
	}
	if !ok.accepted || ok.err != nil {
		t.Fatalf("signed decision: %+v", ok)
	}
	a := st.Approval
	if len(a.Approvals) != 1 || a.Approvals[0].Via != "api-token:alice" || len(a.Refusals) != 0 {
		t.Fatalf("approval %+v", a)
	}
}

// TestGateUsesTheWorkersApproverGroups: a run started without groups (from
// the CLI) gets them from the worker when its gate opens.
func TestGateUsesTheWorkersApproverGroups(t *testing.T) {
	h := newHarness(t)
	h.policy.Groups = map[string][]string{"leads": {"erin"}}
	u := h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "erin"})
	in := approvalOnly(t, 1)
	in.Groups = nil
	h.env.ExecuteWorkflow(Pipeline, in)
	if st, err := h.result(t); err != nil || st.State != StateSucceeded || u.err != nil {
		t.Fatalf("state %s err %v update %+v", st.State, err, u)
	}
}
