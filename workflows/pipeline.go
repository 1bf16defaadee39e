package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// WorkflowID is the ID of a branch's pipeline: one running run per branch.
// It reads "pipeline/<repo>:<branch>". The repository is case-folded (Git
// hosts treat "ACME/Hello" and "acme/hello" as one repository) with "%" and
// ":" escaped, and Git forbids ":" in branch names, so the first ":" always
// separates the two: project "acme/gl" branch "x/main" and project
// "acme/gl/x" branch "main" get different IDs. The ID is computed by
// clients, never by workflow code, so the change of form does not touch
// recorded histories; runs started under the old form (LegacyWorkflowID)
// still receive their branch's pushes (see runs.Client.Start).
//
// Temporal carries a workflow ID in a gRPC header, which takes printable
// ASCII only: every other character is written as \uXXXX (\UXXXXXXXX above
// the BMP) by ASCIIID. Git refuses "\" in branch names, so the form stays
// unambiguous, and an ASCII name is unchanged.
func WorkflowID(repo, branch string) string {
	return "pipeline/" + idEscaper.Replace(ASCIIID(strings.ToLower(repo))) + ":" + ASCIIID(branch)
}

// ASCIIID writes s with every character outside printable ASCII escaped
// as \uXXXX or \UXXXXXXXX; a printable ASCII s is returned unchanged, so
// escaping twice changes nothing.
func ASCIIID(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

var idEscaper = strings.NewReplacer("%", "%25", ":", "%3A")

// LegacyWorkflowID is the ID form of runs started before WorkflowID was
// made canonical: "pipeline/<repo>/<branch>", ambiguous and case-sensitive.
func LegacyWorkflowID(repo, branch string) string {
	return "pipeline/" + repo + "/" + branch
}

// maxSeen bounds the remembered push identities carried across runs.
const maxSeen = 50

// MaxQueue bounds the pushes waiting for a branch in queue mode. When a push
// arrives at a full queue the oldest waiting one is dropped: the newer push
// of the same branch contains its commits.
const MaxQueue = 20

// run is the state of one Pipeline execution. Handlers and the main
// coroutine share it; Temporal runs them one at a time, so no locking.
type run struct {
	in    PipelineInput
	st    RunState
	runID string
	// saga is the compensation stack of the phases that changed the world.
	saga Saga
	// next is the newer push that supersedes this run (cancel-previous).
	next *Request
	// cancelPhases stops the phase in progress when the run is superseded.
	cancelPhases workflow.CancelFunc
	// statusVersion gates commit status reporting (see commitStatusVersion).
	statusVersion workflow.Version
	// progress are the commit status updates not waited for.
	progress []workflow.Future
	// epoch implies the changes before it (see versions.go).
	epoch workflow.Version
	// tailVersion selects how the run's bookkeeping overlaps (see
	// concurrentTail).
	tailVersion workflow.Version
	// notices are the notices sent without waiting (notifyLater).
	notices []pendingNotice
	// policy is the approval policy asked for ahead of the gate.
	policy workflow.Future
	// identityVersion selects the author check of approvals (see approvalIdentity).
	identityVersion workflow.Version
	// decisionKey is the server key decisions must be signed with (see
	// approvalPolicy); empty accepts unsigned decisions (older runs).
	decisionKey []byte
	// releaseVersion is the production phase's (see releaseVersion); set
	// when the phase starts.
	releaseVersion workflow.Version
	// recordSeq numbers the run's records; recorded is the first one's
	// write (see recordStart).
	recordSeq int
	recorded  workflow.Future
	// quotaAsked are the semaphores the run asked for a slot (its
	// project's, the cap's), in order; it gives them (or its places) back
	// as it ends.
	quotaAsked []string
}

// Pipeline runs one push through the spec's phases: build, test, bake,
// deploy, integration, promote, approval, production. Phases that change
// the world push their undo on a compensation stack that runs, newest first,
// when a later phase fails, when the run is cancelled and when a newer push
// supersedes it. The result (and the details of a failure) is the RunState.
func Pipeline(ctx workflow.Context, in PipelineInput) (RunState, error) {
	r := &run{in: in, runID: workflow.GetInfo(ctx).WorkflowExecution.RunID}
	r.st = RunState{Request: in.Request, State: StateRunning, Started: workflow.Now(ctx)}
	for _, name := range pipelines.PhaseOrder {
		if in.Spec.Enabled(name) {
			r.st.Phases = append(r.st.Phases, PhaseState{Name: name, Status: PhasePending})
		}
	}
	if in.Resume != nil {
		r.st.ResumedFrom = in.Resume.FromRun
	}
	r.remember(in.Push)
	r.startEpoch(ctx)
	r.statusVersion = r.version(ctx, "commit-status", commitStatusVersion)
	r.tailVersion = r.version(ctx, "concurrent-tail", concurrentTail)
	if r.statusVersion == commitStatusQueued {
		r.commitStatus(ctx, contract.StatusPending, "queued", false)
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (RunState, error) { return r.state(), nil }); err != nil {
		return r.st, err
	}
	if err := r.registerApproval(ctx); err != nil {
		return r.st, err
	}
	pushes := workflow.GetSignalChannel(ctx, SignalPush)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var req Request
			pushes.Receive(ctx, &req)
			r.onPush(ctx, req)
		}
	})

	r.recordStart(ctx)
	phaseCtx, cancel := workflow.WithCancel(ctx)
	r.cancelPhases = cancel
	runErr := r.acquireQuota(phaseCtx)
	if runErr == nil {
		runErr = r.phases(phaseCtx)
	}
	return r.finish(ctx, runErr)
}

// remember records a push identity so a redelivery is recognised.
func (r *run) remember(p Push) {
	for _, id := range []string{p.DeliveryID, "commit:" + p.Commit} {
		if id != "" && id != "commit:" && !slices.Contains(r.in.Seen, id) {
			r.in.Seen = append(r.in.Seen, id)
		}
	}
	if len(r.in.Seen) > maxSeen {
		r.in.Seen = r.in.Seen[len(r.in.Seen)-maxSeen:]
	}
}

func (r *run) seen(p Push) bool {
	if p.DeliveryID != "" && slices.Contains(r.in.Seen, p.DeliveryID) {
		return true
	}
	// The same commit pushed again while its run is active is a redelivery
	// from the user's point of view; queue and supersede only newer commits.
	return p.Commit == r.in.Push.Commit || (r.next != nil && p.Commit == r.next.Push.Commit)
}

func (r *run) onPush(ctx workflow.Context, req Request) {
	if r.seen(req.Push) {
		return
	}
	r.remember(req.Push)
	if r.in.Spec.Concurrency == pipelines.Queue {
		if len(r.in.Queue) >= MaxQueue {
			workflow.GetLogger(ctx).Warn("queue full: dropping the oldest waiting push", "commit", r.in.Queue[0].Push.Commit)
			r.in.Queue = r.in.Queue[1:]
		}
		r.in.Queue = append(r.in.Queue, req)
		return
	}
	// cancel-previous: the newest push wins; pushes in between are dropped
	// because the newest one contains them.
	r.next = &req
	r.st.SupersededBy = req.Push.Commit
	if r.st.Phase == pipelines.PhaseProduction && r.releaseVersion >= releaseVersion {
		// Never interrupt a release half-way: the newer push runs when
		// this one is done.
		workflow.GetLogger(ctx).Info("a release is in progress: the newer push waits for it", "commit", req.Push.Commit)
		return
	}
	r.cancelPhases()
}

// state is the RunState with the compensation stack as it stands.
func (r *run) state() RunState {
	st := r.st
	st.Undo = r.saga.Pending()
	return st
}

// phase runs one phase from the phase table with its activity options.
func (r *run) phase(ctx workflow.Context, name string) error {
	d, ok := phaseDefNamed(name)
	if !ok {
		return temporal.NewNonRetryableApplicationError("unknown phase "+name, contract.ErrInvalidInput, nil)
	}
	opts := d.options(&r.in.Spec)
	started := workflow.Now(ctx)
	for round := 1; ; round++ {
		err := d.run(r, workflow.WithActivityOptions(ctx, opts))
		if err == nil || !workerLost(err) || round >= maxWorkerLossRounds {
			return err
		}
		// Every attempt of the activity lost its worker (killed, evicted,
		// partitioned): no failure of the phase itself. Run the phase again
		// with a fresh attempt budget, within the phase's own timeout.
		left := opts.ScheduleToCloseTimeout - workflow.Now(ctx).Sub(started)
		if left <= d.heartbeat {
			return err
		}
		if r.version(ctx, "rerun-after-worker-loss", rerunAfterWorkerLoss) < rerunAfterWorkerLoss {
			return err
		}
		workflow.GetLogger(ctx).Warn("every attempt of the phase lost its worker: running it again", "phase", name, "round", round+1, "error", err)
		opts.ScheduleToCloseTimeout, opts.StartToCloseTimeout = left, min(opts.StartToCloseTimeout, left)
	}
}

func (r *run) phases(ctx workflow.Context) error {
	resumeAt := -1
	if r.in.Resume != nil {
		resumeAt = slices.Index(pipelines.PhaseOrder, r.in.Resume.Phase)
		r.st.Outputs = r.in.Resume.Outputs
	}
	ran := false // a phase of this run has started
	for i := range r.st.Phases {
		ps := &r.st.Phases[i]
		if slices.Index(pipelines.PhaseOrder, ps.Name) < resumeAt {
			ps.Status = PhaseReused
			continue
		}
		if r.next != nil || ctx.Err() != nil {
			return temporal.NewCanceledError()
		}
		r.st.Phase = ps.Name
		ps.Status, ps.Started = PhaseRunning, workflow.Now(ctx)
		pctx, stopStatus := r.phaseStatus(ctx, ps.Name, !ran)
		ran = true
		if i+1 < len(r.st.Phases) && r.st.Phases[i+1].Name == pipelines.PhaseApproval && r.tailVersion >= concurrentTail {
			r.prefetchPolicy(ctx)
		}
		err := r.phase(pctx, ps.Name)
		stopStatus()
		ps.Finished = workflow.Now(ctx)
		if err != nil {
			ps.Status, ps.Error = PhaseFailed, errorMessage(err)
			if temporal.IsCanceledError(err) {
				ps.Status = PhaseCancelled
			}
			return err
		}
		ps.Status = PhaseSucceeded
	}
	return nil
}

// finish runs compensation or cleanup, sets the final state, and decides
// between completing, failing and continuing as new.
func (r *run) finish(ctx workflow.Context, runErr error) (RunState, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if runErr == nil && r.tailVersion >= concurrentTail {
		r.succeed(dctx)
	} else {
		r.settle(ctx, dctx, runErr)
	}

	r.releaseQuota(dctx)
	// Let in-flight approve/reject handlers finish before the run closes.
	_ = workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(dctx) })
	r.recordEnd(dctx)

	if next, ok := r.successor(); ok {
		return r.st, workflow.NewContinueAsNewError(dctx, Pipeline, next)
	}
	switch r.st.State {
	case StateSucceeded:
		return r.st, nil
	case StateCancelled:
		return r.st, temporal.NewCanceledError(r.st)
	}
	errType := ErrPhaseFailed
	switch r.st.State {
	case StateRejected:
		errType = ErrRejected
	case StateTimedOut:
		errType = ErrApprovalTimedOut
	}
	return r.st, temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("phase %s: %s", r.st.Phase, r.st.Error), errType,
		temporal.ApplicationErrorOptions{NonRetryable: true, Cause: runErr, Details: []any{r.st}})
}

// workspaceCleanup is the release of the run's workspace (pool pod or local
// directory) when the run succeeded; a failed run keeps it so `sluice retry`
// can reuse it.
func (r *run) workspaceCleanup(failed bool) *Saga {
	var s Saga
	if !failed && !r.st.Outputs.Workspace.IsZero() {
		PushUndo(&s, "", contract.ReleaseWorkspace, contract.WorkspaceRef{RunID: r.runID, Workspace: r.st.Outputs.Workspace}, true)
	}
	return &s
}

// succeed ends a run whose phases all passed: its cleanup (test
// environment, workspace), its last notice and its final commit status do
// not depend on each other and go at once (concurrentTail).
func (r *run) succeed(ctx workflow.Context) {
	cleanedUp, workspaceReleased := r.saga.StartCleanUp(ctx), r.workspaceCleanup(false).StartCleanUp(ctx)
	r.st.State, r.st.Phase = StateSucceeded, ""
	r.awaitNotices(ctx) // the approval's notice before the last one
	r.notifyLater(ctx, contract.NoticeRunFinished, r.st.State+withheldSummary(r.st))
	statusSent := false
	workflow.Go(ctx, func(ctx workflow.Context) {
		state, desc := finalStatus(r.st)
		r.commitStatus(ctx, state, desc, true)
		statusSent = true
	})
	done, undoErr := cleanedUp()
	if _, wsErr := workspaceReleased(); wsErr != nil {
		workflow.GetLogger(ctx).Warn("workspace cleanup failed", "error", wsErr)
	}
	r.st.Compensated = done
	if undoErr != nil {
		r.st.Error = joinMsg(r.st.Error, "compensation incomplete: "+undoErr.Error())
	}
	r.st.Finished = workflow.Now(ctx) // the run's work is done; the Git host may still be answering
	_ = workflow.Await(ctx, func() bool { return statusSent })
	r.awaitNotices(ctx)
}

// settle ends a run that failed, was cancelled or superseded (and, in runs
// recorded before concurrentTail, one that succeeded): compensation newest
// first, then the run's last notice and its final commit status.
func (r *run) settle(ctx, dctx workflow.Context, runErr error) {
	failed := runErr != nil
	done, undoErr := r.saga.Compensate(dctx, failed)
	if _, err := r.workspaceCleanup(failed).Compensate(dctx, false); err != nil {
		workflow.GetLogger(ctx).Warn("workspace cleanup failed", "error", err)
	}
	r.st.Compensated = done
	for _, u := range done {
		if ps := r.st.PhaseByName(u.Phase); ps != nil && failed && ps.Status == PhaseSucceeded {
			ps.Status = PhaseCompensated
		}
	}
	r.st.Finished = workflow.Now(dctx)

	switch {
	case runErr == nil:
		r.st.State = StateSucceeded
		r.st.Phase = ""
	case r.next != nil:
		r.st.State, r.st.Error = StateCancelled, "superseded by a push of "+r.next.Push.Commit
	case temporal.IsCanceledError(runErr) || ctx.Err() != nil:
		r.st.State, r.st.Error = StateCancelled, "cancelled"
	default:
		r.st.State, r.st.Error = StateFailed, errorMessage(runErr)
		var appErr *temporal.ApplicationError
		if errors.As(runErr, &appErr) {
			switch appErr.Type() {
			case ErrRejected:
				r.st.State = StateRejected
			case ErrApprovalTimedOut:
				r.st.State = StateTimedOut
			}
		}
	}
	if undoErr != nil {
		r.st.Error = joinMsg(r.st.Error, "compensation incomplete: "+undoErr.Error())
	}
	state, desc := finalStatus(r.st)
	if r.tailVersion >= concurrentTail {
		// the run's last notice after the earlier ones, beside the final
		// commit status
		r.awaitNotices(dctx)
		r.notifyLater(dctx, contract.NoticeRunFinished, r.st.State+summary(r.st))
		r.commitStatus(dctx, state, desc, true)
		r.awaitNotices(dctx)
	} else {
		r.notify(dctx, contract.NoticeRunFinished, r.st.State+summary(r.st))
		r.commitStatus(dctx, state, desc, true)
	}
}

// successor returns the input of the run that continues this branch: the
// superseding push, or the next queued one.
func (r *run) successor() (PipelineInput, bool) {
	var req Request
	queue := r.in.Queue
	switch {
	case r.next != nil:
		req = *r.next
	case len(queue) > 0:
		req, queue = queue[0], queue[1:]
	default:
		return PipelineInput{}, false
	}
	return PipelineInput{Request: req, Groups: r.in.Groups, Queue: queue, Seen: r.in.Seen}, true
}

func summary(st RunState) string {
	if st.State == StateSucceeded {
		return ""
	}
	out := ": " + st.Error
	if st.Phase != "" {
		out = fmt.Sprintf(" in phase %s: %s", st.Phase, st.Error)
	}
	if len(st.Compensated) > 0 {
		var undone []string
		for _, u := range st.Compensated {
			undone = append(undone, u.Activity)
		}
		out += "; rolled back: " + strings.Join(undone, ", ")
	}
	return out
}

func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// errorMessage is the innermost useful message of an activity error.
func errorMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var toErr *temporal.TimeoutError
	if errors.As(err, &toErr) {
		return "timed out (" + toErr.TimeoutType().String() + ")"
	}
	if temporal.IsCanceledError(err) {
		return "cancelled"
	}
	return err.Error()
}
