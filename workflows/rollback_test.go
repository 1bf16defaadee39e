package workflows

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/contract/bind"
)

// rollbackHarness runs the Rollback workflow with a signing server key
// and counts the RollbackRelease calls.
type rollbackHarness struct {
	testsuite.WorkflowTestSuite
	env      *testsuite.TestWorkflowEnvironment
	priv     ed25519.PrivateKey
	releases int
	// records are the run records the rollback wrote.
	records []contract.RunRecord
}

const rollbackID = "rollback/shop-prod/shop"

func newRollbackHarness(t *testing.T) *rollbackHarness {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	h := &rollbackHarness{priv: priv}
	h.env = h.NewTestWorkflowEnvironment()
	h.env.RegisterWorkflow(Rollback)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: rollbackID})
	bind.Activity(h.env, contract.GetApprovalPolicy, func(context.Context, contract.Nothing) (contract.ApprovalPolicy, error) {
		return contract.ApprovalPolicy{Key: pub}, nil
	})
	bind.Activity(h.env, contract.RollbackRelease, func(context.Context, contract.RollbackInput) (contract.RollbackResult, error) {
		h.releases++
		return contract.RollbackResult{Version: 3, RollbackOf: 1, Commit: "c0ffee"}, nil
	})
	bind.Activity(h.env, contract.RecordRun, func(_ context.Context, r contract.RunRecord) (contract.Nothing, error) {
		h.records = append(h.records, r)
		return contract.Nothing{}, nil
	})
	return h
}

// decideAt sends a decision the server signed for user after d.
func (h *rollbackHarness) decideAt(d time.Duration, name, user, comment string) *updateResult {
	approve := name == UpdateApprove
	dec := Decision{User: user, Comment: comment, Via: "api-token:" + user}
	dec.Proof = contract.DecisionClaim{WorkflowID: rollbackID, RunID: testRunID, Approve: approve, User: user, Comment: comment, Via: dec.Via}.Sign(h.priv)
	res := &updateResult{}
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() { res.accepted = true },
			OnReject: func(err error) { res.rejected = err },
			OnComplete: func(_ any, err error) {
				res.completed = true
				res.err = err
			},
		}, dec)
	}, d)
	return res
}

func approvedRollback() RollbackInput {
	return RollbackInput{Pipeline: "shop", Namespace: "shop-prod", By: "rita (API token rita-laptop)", Requester: "rita", Reason: "v2 is slow",
		Approval: &contract.RollbackApproval{Approvers: []string{"alice", "bob", "rita"}, Required: 1, Timeout: 2 * time.Hour}}
}

// TestRollbackWaitsForItsApproval: under production's rule nothing is
// rolled back until an approver approves; the requester, though an
// approver, cannot approve their own rollback, and an unsigned decision
// does not count.
func TestRollbackWaitsForItsApproval(t *testing.T) {
	h := newRollbackHarness(t)
	own := h.decideAt(time.Minute, UpdateApprove, "rita", "")
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(UpdateApprove, "", &testsuite.TestUpdateCallback{
			OnAccept: func() { t.Error("an unsigned approval was accepted") }, OnReject: func(error) {}, OnComplete: func(any, error) {},
		}, Decision{User: "bob", Via: "temporal"})
	}, 2*time.Minute)
	var waiting RollbackState
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryState)
		if err != nil {
			t.Error(err)
			return
		}
		_ = v.Get(&waiting)
		if h.releases != 0 {
			t.Error("rolled back before the approval")
		}
	}, 30*time.Minute)
	ok := h.decideAt(time.Hour, UpdateApprove, "alice", "")
	h.env.ExecuteWorkflow(Rollback, approvedRollback())
	var res RollbackResult
	if err := h.env.GetWorkflowResult(&res); err != nil || res.Version != 3 || h.releases != 1 {
		t.Fatalf("rollback: %+v %v (releases %d)", res, err, h.releases)
	}
	if own.err == nil || !strings.Contains(own.err.Error(), RefusedRequester) {
		t.Errorf("the requester's own approval: %+v", own)
	}
	if !ok.accepted || ok.err != nil {
		t.Errorf("alice's approval: %+v", ok)
	}
	if waiting.Status != RollbackAwaitingApproval || waiting.Required != 1 || len(waiting.Refusals) != 1 || waiting.By != "rita (API token rita-laptop)" {
		t.Errorf("state while waiting: %+v", waiting)
	}
	// its record: a succeeded rollback of shop in production, the release
	// it made, who asked, the refusal and the approval
	if len(h.records) != 1 {
		t.Fatalf("records %+v, want one", h.records)
	}
	r := h.records[0]
	if r.Kind != contract.RecordRollback || r.Pipeline != "shop" || r.State != StateSucceeded || r.Revision != "3" || r.Commit != "c0ffee" ||
		r.Environment != "production" || r.Finished.IsZero() || len(r.Events) != 3 || r.Events[1].Actor != "alice" || r.Events[2].Actor != "rita" {
		t.Errorf("record %+v", r)
	}
}

// TestRollbackRejectedOrUnapproved: a rejection, or no approval before
// the timeout, ends the rollback with nothing changed.
func TestRollbackRejectedOrUnapproved(t *testing.T) {
	for name, decide := range map[string]func(*rollbackHarness){
		"rejected": func(h *rollbackHarness) { h.decideAt(time.Hour, UpdateReject, "bob", "v2 holds the migration") },
		"expired":  func(*rollbackHarness) {},
	} {
		t.Run(name, func(t *testing.T) {
			h := newRollbackHarness(t)
			decide(h)
			h.env.ExecuteWorkflow(Rollback, approvedRollback())
			err := h.env.GetWorkflowError()
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != ErrRollbackNotApproved || h.releases != 0 {
				t.Fatalf("%v (releases %d)", err, h.releases)
			}
			want := map[string]string{"rejected": StateRejected, "expired": StateFailed}[name]
			if len(h.records) != 1 || h.records[0].State != want || h.records[0].Revision != "" {
				t.Errorf("records %+v, want one, %s", h.records, want)
			}
		})
	}
}

// TestRollbackWaived: without an approval rule the rollback goes at once.
func TestRollbackWaived(t *testing.T) {
	h := newRollbackHarness(t)
	in := approvedRollback()
	in.Approval = nil
	h.env.ExecuteWorkflow(Rollback, in)
	if err := h.env.GetWorkflowError(); err != nil || h.releases != 1 {
		t.Fatalf("%v (releases %d)", err, h.releases)
	}
}
