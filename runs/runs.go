// Package runs is the client side of Sluice: it starts pipeline runs
// (superseding or queueing behind a branch's running run), reads their
// state, sends approvals, cancels and retries. The CLI, the HTTP server and
// the webhook receiver all go through it.
package runs

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/workflows"
)

// ErrNotFound is returned (wrapped) for a run id that names no run.
var ErrNotFound = errors.New("run not found")

// Ref names a run: a workflow ID, and a Temporal run ID or "" for the
// branch's latest run. Its string form is "<workflow id>@<run id>".
type Ref struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
}

func (r Ref) String() string {
	if r.RunID == "" {
		return r.WorkflowID
	}
	return r.WorkflowID + "@" + r.RunID
}

var uuidLike = regexp.MustCompile(`^[0-9a-fA-F-]{32,36}$`)

// ParseRef reads "pipeline/<repo>:<branch>[@<run id>]" (and the older
// "pipeline/<repo>/<branch>" form).
func ParseRef(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Ref{}, errors.New("empty run id: pass the run_id that `sluice run` or `sluice list` printed")
	}
	// a branch typed as Git spells it names the run its ID escapes
	if i := strings.LastIndex(s, "@"); i > 0 && uuidLike.MatchString(s[i+1:]) {
		return Ref{WorkflowID: workflows.ASCIIID(s[:i]), RunID: s[i+1:]}, nil
	}
	if !strings.HasPrefix(s, "pipeline/") {
		return Ref{}, fmt.Errorf("%q is not a run id: run ids look like pipeline/<repo>:<branch>@<id> (see `sluice list`)", s)
	}
	return Ref{WorkflowID: workflows.ASCIIID(s)}, nil
}

// Client wraps a Temporal client with Sluice's operations.
type Client struct {
	Temporal  client.Client
	TaskQueue string
	// Groups resolves approver groups for new runs.
	Groups map[string][]string
	// Signer, held only by the Sluice server, signs the decisions it has
	// established the user of (see contract.DecisionClaim).
	Signer ed25519.PrivateKey
	// QuotaSweep is how often a Quota workflow this client starts looks
	// for holders that ended without giving their slot back (zero:
	// workflows.QuotaLiveness).
	QuotaSweep time.Duration
}

func (c *Client) queue() string {
	if c.TaskQueue == "" {
		return workflows.TaskQueue
	}
	return c.TaskQueue
}

// Started says what Start did.
type Started struct {
	Ref Ref `json:"ref"`
	// Action is "started", "superseding" (the running run is being cancelled
	// and this push follows it), "queued", or "duplicate" (this push is
	// already running).
	Action string `json:"action"`
	// Previous is the run this push supersedes or queues behind.
	Previous *Ref `json:"previous,omitempty"`
}

// Start starts a run for req, or hands it to the branch's running run, which
// supersedes itself or queues it as the spec says. It returns once the
// start or the signal is durable in Temporal.
func (c *Client) Start(ctx context.Context, req workflows.Request) (Started, error) {
	id := workflows.WorkflowID(req.Push.Key(), req.Push.Branch)
	if legacy, ok := c.runningLegacy(ctx, req.Push); req.Push.Pipeline == "" && ok {
		id = legacy // the branch's run predates canonical IDs: hand it the push
	}
	for attempt := 0; attempt < 5; attempt++ {
		run, err := c.startNew(ctx, id, workflows.PipelineInput{Request: req, Groups: c.Groups})
		if err == nil {
			return Started{Ref: Ref{id, run.GetRunID()}, Action: "started"}, nil
		}
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &already) {
			return Started{}, fmt.Errorf("start %s: %w", id, err)
		}
		prev := Ref{id, already.RunId}
		if st, err := c.query(ctx, prev); err == nil && st.Request.Push.Commit == req.Push.Commit {
			return Started{Ref: prev, Action: "duplicate", Previous: &prev}, nil
		}
		err = c.Temporal.SignalWorkflow(ctx, id, already.RunId, workflows.SignalPush, req)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue // it finished between our start and signal: start again
		}
		if err != nil {
			return Started{}, fmt.Errorf("hand push to running %s: %w", id, err)
		}
		action := "superseding"
		if req.Spec.Concurrency == "queue" {
			action = "queued"
		}
		return Started{Ref: Ref{WorkflowID: id}, Action: action, Previous: &prev}, nil
	}
	return Started{}, fmt.Errorf("start %s: the branch's run kept changing; try again", id)
}

// runningLegacy finds a run of the push's branch started under the old
// workflow ID form that is still running, so an upgrade does not give a
// branch two concurrent runs. Once every such run has finished this costs
// one lookup per push.
func (c *Client) runningLegacy(ctx context.Context, p workflows.Push) (string, bool) {
	legacy := workflows.LegacyWorkflowID(p.Repo, p.Branch)
	if legacy == workflows.WorkflowID(p.Repo, p.Branch) {
		return "", false
	}
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, legacy, "")
	if err != nil {
		return "", false
	}
	return legacy, d.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

func (c *Client) startNew(ctx context.Context, id string, in workflows.PipelineInput) (client.WorkflowRun, error) {
	return c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                c.queue(),
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without this the SDK hands back the running run as if it had started ours.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// A worker in this process (`sluice dev`, a dispatch activity) takes
		// the run's first task from the start's reply, not through matching.
		EnableEagerStart: true,
		Memo: map[string]any{
			"repo": in.Push.Repo, "branch": in.Push.Branch, "commit": in.Push.Commit, "author": in.Push.Author,
		},
	}, workflows.Pipeline, in)
}

// WaitForSuccessor waits until the branch's latest run is not prev (the
// superseded or finished run continued as new) and returns it.
func (c *Client) WaitForSuccessor(ctx context.Context, prev Ref, timeout time.Duration) (Ref, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		d, err := c.Temporal.DescribeWorkflowExecution(ctx, prev.WorkflowID, "")
		if err == nil && d.WorkflowExecutionInfo.Execution.RunId != prev.RunID {
			return Ref{prev.WorkflowID, d.WorkflowExecutionInfo.Execution.RunId}, nil
		}
		select {
		case <-ctx.Done():
			return Ref{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return Ref{}, fmt.Errorf("run %s did not hand over within %s; see `sluice status %s`", prev, timeout, prev.WorkflowID)
}

// Resolve fills in the run ID of the branch's latest run.
func (c *Client) Resolve(ctx context.Context, r Ref) (Ref, *workflowservice.DescribeWorkflowExecutionResponse, error) {
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, r.WorkflowID, r.RunID)
	if err != nil {
		var nf *serviceerror.NotFound
		var inv *serviceerror.InvalidArgument
		if errors.As(err, &nf) || errors.As(err, &inv) {
			return r, nil, fmt.Errorf("%w: %s (list runs with `sluice list`)", ErrNotFound, r)
		}
		return r, nil, fmt.Errorf("describe %s: %w", r, err)
	}
	r.RunID = d.WorkflowExecutionInfo.Execution.RunId
	return r, d, nil
}

func (c *Client) query(ctx context.Context, r Ref) (workflows.RunState, error) {
	var st workflows.RunState
	v, err := c.Temporal.QueryWorkflow(ctx, r.WorkflowID, r.RunID, workflows.QueryState)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// Status returns a run's state. A closed run's state comes from its result
// or failure details; a running (or continued-as-new) run is queried.
func (c *Client) Status(ctx context.Context, r Ref) (Ref, workflows.RunState, error) {
	r, d, err := c.Resolve(ctx, r)
	if err != nil {
		return r, workflows.RunState{}, err
	}
	status := d.WorkflowExecutionInfo.Status
	var st workflows.RunState
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		st, err = c.query(ctx, r)
		if err != nil {
			return r, st, fmt.Errorf("query %s: %w (is a worker running?)", r, err)
		}
		return r, st, nil
	}
	runErr := c.Temporal.GetWorkflow(ctx, r.WorkflowID, r.RunID).GetWithOptions(ctx, &st, client.WorkflowRunGetOptions{DisableFollowingRuns: true})
	if runErr == nil {
		return r, st, nil
	}
	if fromFailure(runErr, &st) {
		return r, st, nil
	}
	// terminated or timed out by Temporal itself: no details.
	st.State = workflows.StateFailed
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
		st.State = workflows.StateCancelled
	}
	st.Error = runErr.Error()
	return r, st, nil
}

// fromFailure extracts the RunState a failed or cancelled run carries.
func fromFailure(err error, st *workflows.RunState) bool {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.HasDetails() {
		return appErr.Details(st) == nil
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) && canceled.HasDetails() {
		return canceled.Details(st) == nil
	}
	return false
}

// Terminal reports whether a run state is final.
func Terminal(state string) bool {
	switch state {
	case workflows.StateRunning, workflows.StateAwaitingApproval, "":
		return false
	}
	return true
}

// Decide sends an approve or reject update and waits for its outcome. A
// refused decision comes back as an error carrying the reason.
//
// The decision is bound to what was reviewed: r must name the run by its
// id (a branch's name alone would reach whatever run waits there when the
// decision arrives, a commit nobody saw), and a commit, when given, must
// be the run's (a prefix of at least 7 characters).
func (c *Client) Decide(ctx context.Context, r Ref, commit string, approve bool, d workflows.Decision) (workflows.DecisionResult, error) {
	if r.RunID == "" {
		return workflows.DecisionResult{}, fmt.Errorf("%w: %s names a branch, not a run: name the run you reviewed by its id (%s@<run id>, as `sluice status` prints it)", ErrRefused, r, r.WorkflowID)
	}
	r, _, err := c.Resolve(ctx, r)
	if err != nil {
		return workflows.DecisionResult{}, err
	}
	if commit != "" {
		st, err := c.query(ctx, r)
		if err != nil {
			return workflows.DecisionResult{}, refusal(err)
		}
		if got := st.Request.Push.Commit; len(commit) < 7 || !strings.HasPrefix(got, strings.ToLower(commit)) {
			return workflows.DecisionResult{}, fmt.Errorf("%w: run %s releases commit %s, not %s: decide on the commit you reviewed", ErrRefused, r, got, commit)
		}
	}
	name := workflows.UpdateReject
	if approve {
		name = workflows.UpdateApprove
	}
	if c.Signer != nil {
		d.Proof = contract.DecisionClaim{WorkflowID: r.WorkflowID, RunID: r.RunID, Approve: approve,
			User: d.User, Comment: d.Comment, Via: d.Via}.Sign(c.Signer)
	}
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: r.WorkflowID, RunID: r.RunID, UpdateName: name, Args: []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return workflows.DecisionResult{}, refusal(err)
	}
	var res workflows.DecisionResult
	if err := h.Get(ctx, &res); err != nil {
		return res, refusal(err)
	}
	return res, nil
}

// Unfreeze releases a run's production from the freeze it waits for, as
// d.User for d.Comment (the reason); the run records the override.
func (c *Client) Unfreeze(ctx context.Context, r Ref, d workflows.Decision) (workflows.FreezeOverride, error) {
	r, _, err := c.Resolve(ctx, r)
	if err != nil {
		return workflows.FreezeOverride{}, err
	}
	if c.Signer != nil {
		d.Proof = contract.DecisionClaim{WorkflowID: r.WorkflowID, RunID: r.RunID, Verb: workflows.VerbUnfreeze,
			User: d.User, Comment: d.Comment, Via: d.Via}.Sign(c.Signer)
	}
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: r.WorkflowID, RunID: r.RunID, UpdateName: workflows.UpdateUnfreeze, Args: []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return workflows.FreezeOverride{}, refusal(err)
	}
	var o workflows.FreezeOverride
	if err := h.Get(ctx, &o); err != nil {
		return o, refusal(err)
	}
	return o, nil
}

// ErrRefused wraps a decision the run turned down.
var ErrRefused = errors.New("refused")

func refusal(err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return fmt.Errorf("%w: %s", ErrRefused, appErr.Message())
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: run is not running", ErrRefused)
	}
	// validator rejections arrive as a failure with the validator's message
	msg := err.Error()
	if i := strings.LastIndex(msg, "("); i > 0 && strings.HasSuffix(msg, ")") {
		msg = strings.TrimSpace(msg[:i])
	}
	return fmt.Errorf("%w: %s", ErrRefused, msg)
}

// Cancel asks a run to stop; its compensation runs before it closes.
func (c *Client) Cancel(ctx context.Context, r Ref) (Ref, error) {
	r, d, err := c.Resolve(ctx, r)
	if err != nil {
		return r, err
	}
	if d.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return r, fmt.Errorf("run %s is not running (%s)", r, strings.ToLower(strings.TrimPrefix(d.WorkflowExecutionInfo.Status.String(), "WORKFLOW_EXECUTION_STATUS_")))
	}
	return r, c.Temporal.CancelWorkflow(ctx, r.WorkflowID, r.RunID)
}
