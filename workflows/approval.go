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
	"github.com/sluice-cd/sluice/pipelines"
)

// Error types a Pipeline run fails with.
const (
	ErrPhaseFailed      = "PhaseFailed"
	ErrRejected         = "Rejected"
	ErrApprovalTimedOut = "ApprovalTimedOut"
)

// approvers expands users and groups into a sorted, de-duplicated list. A
// group's members come from the first of sources that defines it.
func approvers(a *pipelines.ApprovalPhase, sources ...map[string][]string) ([]string, error) {
	var out []string
	out = append(out, a.Approvers.Users...)
	var missing []string
	for _, g := range a.Approvers.Groups {
		found := false
		for _, groups := range sources {
			if members, ok := groups[g]; ok {
				out, found = append(out, members...), true
				break
			}
		}
		if !found {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("approver groups %v are not defined in the server configuration: define them under approver_groups or list users in .sluice.yml", missing)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// registerApproval installs the approve and reject update handlers. The
// validators turn away requests that make no sense at all (nothing is
// waiting, no user); those leave no trace. Everything that is a decision
// about a person — not an approver, the author, a repeat, too late — is
// made in the handler, so the refusal is recorded in the run's history and
// in ApprovalState.Refusals: the history is the audit log.
func (r *run) registerApproval(ctx workflow.Context) error {
	validate := func(ctx workflow.Context, d Decision, approve bool) error {
		if d.User == "" {
			return errors.New("a decision needs the deciding user")
		}
		a := r.st.Approval
		if a == nil {
			return fmt.Errorf("run is not waiting for approval (phase %s, state %s)", r.st.Phase, r.st.State)
		}
		if len(r.decisionKey) > 0 {
			// unverified senders leave no trace in the history
			claim := contract.DecisionClaim{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, RunID: r.runID,
				Approve: approve, User: d.User, Comment: d.Comment, Via: d.Via}
			if !claim.Verify(r.decisionKey, d.Proof) {
				return errors.New(RefusedUnverified)
			}
		}
		if a.Status != ApprovalPending {
			return fmt.Errorf("approval already %s", a.Status)
		}
		if len(a.Refusals) >= MaxRefusals {
			// past the bound, refusals are answered without entering the
			// history, so a flood of attempts cannot grow it to Temporal's
			// limit; decisions that count still go through
			if reason := r.refusal(workflow.Now(ctx), d); reason != "" {
				return fmt.Errorf("%s (not recorded: %d refusals are recorded already)", reason, MaxRefusals)
			}
		}
		return nil
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApprove,
		func(ctx workflow.Context, d Decision) (DecisionResult, error) { return r.decide(ctx, d, true) },
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, d Decision) error { return validate(ctx, d, true) }}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateReject,
		func(ctx workflow.Context, d Decision) (DecisionResult, error) { return r.decide(ctx, d, false) },
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, d Decision) error {
			if err := validate(ctx, d, false); err != nil {
				return err
			}
			if strings.TrimSpace(d.Comment) == "" {
				return errors.New("a rejection needs a reason: pass --comment")
			}
			return nil
		}})
}

// MaxRefusals bounds the refused decisions a run records.
const MaxRefusals = 25

// approvalIdentity versions how the author check matches identities
// ("approval-identity" change id): version 1 also refuses the pusher and
// compares case-insensitively (emails differ only in case).
const approvalIdentity = 1

// refusal reasons, stable strings that chat adapters map to messages.
const (
	RefusedNotApprover = "not an approver of this pipeline"
	RefusedAuthor      = "the author of the change cannot approve it"
	RefusedDuplicate   = "already approved by this user"
	RefusedExpired     = "the approval has expired"
	RefusedDecided     = "the approval is already decided"
	// RefusedUnverified answers a decision the Sluice server did not vouch
	// for (sent to Temporal directly); it is not recorded.
	RefusedUnverified = "decision not verified: decide through the Sluice server (`sluice approve RUN` with your API token, or the Slack buttons); --as is accepted only by a server in single-user dev mode"
)

// approvalPolicy versions where the gate's approver groups and decision key
// come from ("approval-policy" change id): version 1 asks the worker
// (contract.GetApprovalPolicy) as the gate opens, so runs started from the
// CLI get the server's groups, and only decisions the server signed count.
const approvalPolicy = 1

var policyOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
}

var localPolicyOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout: policyOptions.StartToCloseTimeout,
	RetryPolicy:         policyOptions.RetryPolicy,
}

// gatePolicy returns the approver groups of the worker's configuration
// (they win over the ones the run was started with) and sets the decision
// key.
func (r *run) gatePolicy(ctx workflow.Context) (map[string][]string, error) {
	f := r.policy
	if f == nil {
		if r.version(ctx, "approval-policy", approvalPolicy) < approvalPolicy {
			return r.in.Groups, nil
		}
		f = r.askPolicy(ctx)
	}
	var p contract.ApprovalPolicy
	if err := f.Get(ctx, &p); err != nil {
		return nil, err
	}
	r.decisionKey = p.Key
	return p.Groups, nil
}

// prefetchPolicy asks the worker for the approval policy while the phase
// before the approval runs (concurrentTail), so the gate opens without
// waiting for it.
func (r *run) prefetchPolicy(ctx workflow.Context) {
	if r.version(ctx, "approval-policy", approvalPolicy) < approvalPolicy {
		return
	}
	r.policy = r.askPolicy(ctx)
}

// askPolicy starts reading the approval policy: the worker's configuration,
// read in the workflow task by a local activity from epoch workerProgress
// on (no task of its own), by an activity before it.
func (r *run) askPolicy(ctx workflow.Context) workflow.Future {
	if r.epoch >= workerProgress {
		return startLocal(workflow.WithLocalActivityOptions(ctx, localPolicyOptions), contract.GetApprovalPolicy, contract.Nothing{})
	}
	return start(workflow.WithActivityOptions(ctx, policyOptions), contract.GetApprovalPolicy, contract.Nothing{})
}

func (r *run) decide(ctx workflow.Context, d Decision, approve bool) (DecisionResult, error) {
	a := r.st.Approval
	now := workflow.Now(ctx)
	d.Proof = nil // verified; the history keeps it with the update
	if reason := r.refusal(now, d); reason != "" && (approve || reason != RefusedDuplicate) {
		a.Refusals = append(a.Refusals, Refusal{Decision: d, Reason: reason, At: now})
		return r.decisionResult(), temporal.NewApplicationError(reason, "Refused")
	}
	if !approve {
		a.Rejection = &Decided{Decision: d, At: now}
		a.Status = ApprovalRejected
		return r.decisionResult(), nil
	}
	a.Approvals = append(a.Approvals, Decided{Decision: d, At: now})
	if len(a.Approvals) >= a.Required {
		a.Status = ApprovalApproved
	}
	return r.decisionResult(), nil
}

// refusal is why d may not decide the approval at now, or "" when it may.
// (A repeat approval is a duplicate; a rejection after one's own approval is
// allowed, and the caller ignores RefusedDuplicate for rejections.)
func (r *run) refusal(now time.Time, d Decision) string {
	a := r.st.Approval
	switch {
	case a.Status != ApprovalPending:
		return RefusedDecided
	case !now.Before(a.ExpiresAt):
		return RefusedExpired
	case r.isAuthor(d.User):
		return RefusedAuthor
	case !slices.Contains(a.Approvers, d.User):
		return RefusedNotApprover
	}
	for _, prev := range a.Approvals {
		if prev.User == d.User {
			return RefusedDuplicate
		}
	}
	return ""
}

func (r *run) isAuthor(user string) bool {
	p := r.in.Push
	if r.identityVersion < approvalIdentity {
		return user == p.Author || slices.Contains(p.AuthorIDs, user)
	}
	ids := append(append([]string{p.Author}, p.AuthorIDs...), p.PusherIDs...)
	return slices.ContainsFunc(ids, func(id string) bool {
		return id != "" && strings.EqualFold(strings.TrimSpace(id), strings.TrimSpace(user))
	})
}

func (r *run) decisionResult() DecisionResult {
	a := r.st.Approval
	res := DecisionResult{Status: a.Status, Remaining: max(a.Required-len(a.Approvals), 0)}
	for _, x := range a.Approvals {
		res.Approvals = append(res.Approvals, x.User)
	}
	return res
}

// approvalPhase waits for the people the spec names.
var approvalPhase = phaseDef{
	name: pipelines.PhaseApproval,
	run:  (*run).approval,
	keep: func(dst *Outputs, src Outputs) { dst.ApprovedBy = src.ApprovedBy },
}

// approval opens the gate, reminds at most MaxReminders times, and waits for
// a decision or the timeout. Each wait is one timer, so history grows with
// the number of reminders and decisions, never with the wait's length.
func (r *run) approval(ctx workflow.Context) error {
	spec := r.in.Spec.Approval
	a, err := r.openGate(ctx, "")
	if err != nil {
		return err
	}
	if err := r.awaitGate(ctx, a); err != nil {
		return err
	}
	switch a.Status {
	case ApprovalApproved:
		for _, x := range a.Approvals {
			r.st.Outputs.ApprovedBy = append(r.st.Outputs.ApprovedBy, x.User)
		}
		msg := "approved by " + fmt.Sprint(r.st.Outputs.ApprovedBy)
		if r.tailVersion >= concurrentTail {
			r.notifyLater(ctx, contract.NoticeApprovalDecided, msg) // production need not wait for chat
		} else {
			r.notify(ctx, contract.NoticeApprovalDecided, msg)
		}
		return nil
	case ApprovalRejected:
		msg := fmt.Sprintf("rejected by %s: %s", a.Rejection.User, a.Rejection.Comment)
		r.notify(ctx, contract.NoticeApprovalDecided, msg)
		return temporal.NewNonRetryableApplicationError(msg, ErrRejected, nil)
	default:
		msg := fmt.Sprintf("no decision within %s", spec.Timeout)
		r.notify(ctx, contract.NoticeApprovalExpired, msg)
		return temporal.NewNonRetryableApplicationError("approval timed out: "+msg, ErrApprovalTimedOut, nil)
	}
}

// openGate asks the approval phase's approvers for a decision about what
// for says ("": the approval itself), keeping an earlier gate's
// decisions in Gates, and posts the request.
func (r *run) openGate(ctx workflow.Context, what string) (*ApprovalState, error) {
	spec := r.in.Spec.Approval
	groups, err := r.gatePolicy(ctx)
	if err != nil {
		return nil, err
	}
	list, err := approvers(spec, groups, r.in.Groups)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrInvalidInput, nil)
	}
	r.identityVersion = r.version(ctx, "approval-identity", approvalIdentity)
	now := workflow.Now(ctx)
	a := &ApprovalState{
		For:         what,
		Status:      ApprovalPending,
		Approvers:   list,
		Required:    spec.Required,
		Channel:     spec.Channel,
		RequestedAt: now,
		ExpiresAt:   now.Add(spec.Timeout.D()),
	}
	if r.st.Approval != nil {
		r.st.Gates = append(r.st.Gates, *r.st.Approval)
	}
	r.st.Approval = a
	r.st.State = StateAwaitingApproval
	a.Message = r.notify(ctx, contract.NoticeApprovalRequested, what)
	return a, nil
}

// awaitGate waits for a's decision or its expiry (then marked expired),
// reminding as the spec says.
func (r *run) awaitGate(ctx workflow.Context, a *ApprovalState) error {
	spec := r.in.Spec.Approval
	decided := func() bool { return a.Status != ApprovalPending }
	for !decided() {
		left := a.ExpiresAt.Sub(workflow.Now(ctx))
		if left <= 0 {
			break
		}
		wait, remind := left, false
		if a.Reminders < spec.MaxReminders && spec.Reminder.D() < left {
			wait, remind = spec.Reminder.D(), true
		}
		ok, err := workflow.AwaitWithTimeout(ctx, wait, decided)
		if err != nil {
			return err
		}
		if !ok && remind {
			a.Reminders++
			r.notify(ctx, contract.NoticeApprovalReminder, fmt.Sprintf("reminder %d of %d", a.Reminders, spec.MaxReminders))
		}
	}
	r.st.State = StateRunning
	if a.Status == ApprovalPending {
		a.Status = ApprovalExpired
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": string(a.Status)}).
		Timer(MetricApprovalWait).Record(workflow.Now(ctx).Sub(a.RequestedAt))
	return nil
}

var notifyOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    30 * time.Second,
		MaximumAttempts:    5,
	},
}

// notify tells people about the run and returns the chat message it
// posted, if any. A chat outage must never fail or stall a pipeline, so
// errors are logged and dropped.
func (r *run) notify(ctx workflow.Context, kind, text string) contract.MessageRef {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	ref, err := call(workflow.WithActivityOptions(dctx, notifyOptions), contract.SendNotice, r.notice(ctx, kind, text))
	if err != nil {
		workflow.GetLogger(ctx).Warn("notification not delivered", "kind", kind, "error", err)
	}
	return ref
}

// notifyLater sends a notice without waiting for it; finish waits for it
// before the run's last notice.
func (r *run) notifyLater(ctx workflow.Context, kind, text string) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	f := start(workflow.WithActivityOptions(dctx, notifyOptions), contract.SendNotice, r.notice(ctx, kind, text))
	r.notices = append(r.notices, pendingNotice{kind: kind, f: f})
}

// pendingNotice is a notice sent by notifyLater.
type pendingNotice struct {
	kind string
	f    workflow.Future
}

// awaitNotices waits for the notices sent by notifyLater.
func (r *run) awaitNotices(ctx workflow.Context) {
	for _, n := range r.notices {
		if err := n.f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("notification not delivered", "kind", n.kind, "error", err)
		}
	}
	r.notices = nil
}

// notice is a notice of kind about the run as it stands.
func (r *run) notice(ctx workflow.Context, kind, text string) contract.Notice {
	p := r.in.Push
	info := workflow.GetInfo(ctx)
	notice := contract.Notice{
		RunID: r.runID, WorkflowID: info.WorkflowExecution.ID, Kind: kind, Repo: p.Repo, Branch: p.Branch,
		Commit: p.Commit, Author: p.Author, Phase: r.st.Phase, Text: text, State: r.st.State,
		Digest: r.st.Outputs.Digest, Environment: r.st.Outputs.Environment, Phases: phaseSummary(r.st.Phases),
	}
	if a := r.st.Approval; a != nil {
		notice.Approvers, notice.Channel, notice.ExpiresAt, notice.Message = a.Approvers, a.Channel, a.ExpiresAt, a.Message
	}
	return notice
}

// phaseSummary lists finished phases with their durations.
func phaseSummary(phases []PhaseState) string {
	var parts []string
	for _, p := range phases {
		if !p.Finished.IsZero() {
			parts = append(parts, fmt.Sprintf("%s %s (%s)", p.Name, p.Finished.Sub(p.Started).Round(100*time.Millisecond), p.Status))
		}
	}
	return strings.Join(parts, ", ")
}
