package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
)

// RollbackState is what the Rollback workflow's state query answers.
type RollbackState struct {
	Pipeline  string `json:"pipeline"`
	Namespace string `json:"namespace"`
	Project   string `json:"project,omitempty"`
	By        string `json:"by"`
	// Status is awaiting_approval, rolling_back, or the approval's end
	// (rejected, expired) — the run's result says the rest.
	Status    string    `json:"status"`
	Approvers []string  `json:"approvers,omitempty"`
	Required  int       `json:"required,omitempty"`
	Approvals []Decided `json:"approvals,omitempty"`
	Rejection *Decided  `json:"rejection,omitempty"`
	Refusals  []Refusal `json:"refusals,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Rollback statuses.
const (
	RollbackAwaitingApproval = "awaiting_approval"
	RollbackRollingBack      = "rolling_back"
)

// DefaultRollbackTimeout is how long a rollback waits for its approval
// when the rule names no timeout.
const DefaultRollbackTimeout = 24 * time.Hour

// rollbackGate is a rollback's approval: production's approvers (never
// the requester) decide through the server, which signs each decision.
type rollbackGate struct {
	in  RollbackInput
	st  *RollbackState
	key []byte
}

// register sets the state query and, with an approval rule, the decision
// updates.
func registerRollback(ctx workflow.Context, in RollbackInput, st *RollbackState) (*rollbackGate, error) {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (RollbackState, error) { return *st, nil }); err != nil {
		return nil, err
	}
	if in.Approval == nil {
		return nil, nil
	}
	g := &rollbackGate{in: in, st: st}
	for _, approve := range []bool{true, false} {
		name := UpdateReject
		if approve {
			name = UpdateApprove
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, d Decision) (DecisionResult, error) { return g.decide(ctx, d, approve) },
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, d Decision) error { return g.validate(ctx, d, approve) }}); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// validate keeps unverified and impossible decisions out of the history.
func (g *rollbackGate) validate(ctx workflow.Context, d Decision, approve bool) error {
	switch {
	case d.User == "":
		return errors.New("a decision needs the deciding user")
	case g.st.Status != RollbackAwaitingApproval:
		return fmt.Errorf("rollback is not waiting for approval (%s)", g.st.Status)
	case !approve && strings.TrimSpace(d.Comment) == "":
		return errors.New("a rejection needs a reason: pass --comment")
	case len(g.st.Refusals) >= MaxRefusals && g.refusal(workflow.Now(ctx), d) != "":
		return fmt.Errorf("%s (not recorded: %d refusals are recorded already)", g.refusal(workflow.Now(ctx), d), MaxRefusals)
	}
	if len(g.key) > 0 {
		claim := contract.DecisionClaim{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID,
			Approve: approve, User: d.User, Comment: d.Comment, Via: d.Via}
		if !claim.Verify(g.key, d.Proof) {
			return errors.New(RefusedUnverified)
		}
	}
	return nil
}

// refusal is why d may not decide now, or "".
func (g *rollbackGate) refusal(now time.Time, d Decision) string {
	switch {
	case g.st.Status != RollbackAwaitingApproval:
		return RefusedDecided
	case !now.Before(g.st.ExpiresAt):
		return RefusedExpired
	case g.in.Requester != "" && strings.EqualFold(strings.TrimSpace(d.User), g.in.Requester):
		return RefusedRequester
	case !slices.Contains(g.st.Approvers, d.User):
		return RefusedNotApprover
	case slices.ContainsFunc(g.st.Approvals, func(a Decided) bool { return a.User == d.User }):
		return RefusedDuplicate
	}
	return ""
}

// RefusedRequester answers the requester's own approval of a rollback.
const RefusedRequester = "who asked for the rollback cannot approve it"

func (g *rollbackGate) decide(ctx workflow.Context, d Decision, approve bool) (DecisionResult, error) {
	now := workflow.Now(ctx)
	d.Proof = nil // verified; the history keeps it with the update
	if reason := g.refusal(now, d); reason != "" && (approve || reason != RefusedDuplicate) {
		g.st.Refusals = append(g.st.Refusals, Refusal{Decision: d, Reason: reason, At: now})
		return g.result(), temporal.NewApplicationError(reason, "Refused")
	}
	if !approve {
		g.st.Rejection = &Decided{Decision: d, At: now}
		g.st.Status = ApprovalRejected
		return g.result(), nil
	}
	g.st.Approvals = append(g.st.Approvals, Decided{Decision: d, At: now})
	if len(g.st.Approvals) >= g.st.Required {
		g.st.Status = RollbackRollingBack
	}
	return g.result(), nil
}

func (g *rollbackGate) result() DecisionResult {
	res := DecisionResult{Status: g.st.Status, Remaining: max(g.st.Required-len(g.st.Approvals), 0)}
	switch res.Status {
	case RollbackAwaitingApproval:
		res.Status = ApprovalPending
	case RollbackRollingBack:
		res.Status = ApprovalApproved
	}
	for _, a := range g.st.Approvals {
		res.Approvals = append(res.Approvals, a.User)
	}
	return res
}

// wait reads the server's decision key from the worker, then waits for
// the approvals, a rejection or the timeout.
func (g *rollbackGate) wait(ctx workflow.Context) error {
	a := g.in.Approval
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = DefaultRollbackTimeout
	}
	var p contract.ApprovalPolicy
	if err := startLocal(workflow.WithLocalActivityOptions(ctx, localPolicyOptions), contract.GetApprovalPolicy, contract.Nothing{}).Get(ctx, &p); err != nil {
		return err
	}
	g.key = p.Key
	g.st.Approvers, g.st.Required = a.Approvers, max(a.Required, 1)
	g.st.ExpiresAt = workflow.Now(ctx).Add(timeout)
	g.st.Status = RollbackAwaitingApproval
	decided, err := workflow.AwaitWithTimeout(ctx, timeout, func() bool { return g.st.Status != RollbackAwaitingApproval })
	if err != nil {
		return err
	}
	// an update still in its handler answers before the run moves on
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	switch {
	case !decided:
		g.st.Status = ApprovalExpired
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the rollback was not approved within %s (%d of %d approvals): nothing changed", timeout, len(g.st.Approvals), g.st.Required), ErrRollbackNotApproved, nil)
	case g.st.Status == ApprovalRejected:
		r := g.st.Rejection
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the rollback was rejected by %s: %s; nothing changed", r.User, r.Comment), ErrRollbackNotApproved, nil)
	}
	return nil
}

// ErrRollbackNotApproved is the failure of a rollback its approvers did
// not let through.
const ErrRollbackNotApproved = "RollbackNotApproved"
