package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// recordOptions are the record writes': retried without end, a minute
// apart at most, while the records database is away (no record is lost;
// the snapshot's Seq keeps a late retry from overwriting a newer one).
var recordOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
	},
}

// recordStart sends the run's first record without waiting for it: a
// records database that is away does not hold the phases up.
func (r *run) recordStart(ctx workflow.Context) {
	if r.epoch < runRecords {
		return
	}
	r.recorded = r.writeRecord(ctx)
}

// recordEnd sends the run's final record, after the first one, and waits
// for it.
func (r *run) recordEnd(ctx workflow.Context) {
	if r.epoch < runRecords {
		return
	}
	if r.recorded != nil {
		_ = r.recorded.Get(ctx, nil) // its failure is the final record's to mend
	}
	if err := r.writeRecord(ctx).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("the run's record was not written", "error", err)
	}
}

func (r *run) writeRecord(ctx workflow.Context) workflow.Future {
	r.recordSeq++
	rec := RecordOf(r.st, workflow.GetInfo(ctx).WorkflowExecution.ID, r.runID, r.recordSeq)
	return startLocal(workflow.WithLocalActivityOptions(ctx, recordOptions), contract.RecordRun, rec)
}

// RecordOf is the record of a run in state st (the console shows a live
// run the way it shows a recorded one).
func RecordOf(st RunState, workflowID, runID string, seq int) contract.RunRecord {
	p := st.Request.Push
	rec := contract.RunRecord{
		Kind: contract.RecordPipeline, Pipeline: st.Request.Spec.Name, Committed: p.Committed,
		WorkflowID: workflowID, RunID: runID, Repository: p.Repo, Branch: p.Branch, Commit: p.Commit,
		Author: p.Author, DeliveryID: p.DeliveryID, State: st.State, Phase: st.Phase, Error: st.Error,
		Revision: st.Outputs.ProductionRevision, Started: st.Started, Finished: st.Finished, Seq: seq,
	}
	if st.Request.Policy != nil {
		rec.Project = st.Request.Policy.Project
	}
	if o := st.Outputs; o.Image != "" {
		rec.Image = o.Image
		if o.Digest != "" {
			rec.Image = o.Image + "@" + o.Digest
		}
	}
	if prod := st.PhaseByName(pipelines.PhaseProduction); prod != nil && prod.Status == PhaseSucceeded {
		rec.Environment = "production"
	} else if st.Outputs.Environment != "" {
		rec.Environment = "test"
	}
	for _, ph := range st.Phases {
		rec.Events = append(rec.Events, contract.RecordEvent{Key: "phase:" + ph.Name, Kind: contract.EventPhase, Name: ph.Name,
			Status: ph.Status, Detail: ph.Error, At: ph.Started, Finished: ph.Finished})
	}
	if st.Request.Policy != nil {
		for _, w := range st.Request.Policy.Withheld {
			rec.Events = append(rec.Events, contract.RecordEvent{Key: "withheld:" + w.Phase, Kind: contract.EventWithheld,
				Name: w.Phase, Detail: w.Reason, At: st.Started})
		}
	}
	if o := st.FreezeOverride; o != nil {
		rec.Events = append(rec.Events, contract.RecordEvent{Key: "override:freeze", Kind: contract.EventOverride, Name: pipelines.PhaseProduction,
			Actor: o.User, Via: o.Via, Detail: o.Reason + " (frozen until " + o.Until + ")", At: o.At})
	}
	for _, k := range st.Request.Skipped {
		rec.Events = append(rec.Events, contract.RecordEvent{Key: "skipped:" + k.What(), Kind: contract.EventSkipped,
			Name: k.What(), Detail: k.Rule, At: st.Started})
	}
	gates := st.Gates
	if st.Approval != nil {
		gates = append(slices.Clip(gates), *st.Approval)
	}
	for g, a := range gates {
		// the approval phase's keys are as they always were; a later
		// gate's (an inconclusive analysis's) are its own
		prefix, phase := "", pipelines.PhaseApproval
		if a.For != "" {
			prefix, phase = fmt.Sprintf("gate%d:", g), pipelines.PhaseProduction
		}
		for i, d := range a.Approvals {
			rec.Events = append(rec.Events, decisionEvent(phase, fmt.Sprint(prefix, "approval:", i), contract.EventApproval, d.Decision, d.Comment, d.At))
		}
		if d := a.Rejection; d != nil {
			rec.Events = append(rec.Events, decisionEvent(phase, prefix+"rejection", contract.EventRejected, d.Decision, d.Comment, d.At))
		}
		for i, d := range a.Refusals {
			rec.Events = append(rec.Events, decisionEvent(phase, fmt.Sprint(prefix, "refusal:", i), contract.EventRefusal, d.Decision, d.Reason, d.At))
		}
	}
	if an := st.Outputs.Analysis; an != nil {
		for i, m := range an.Measurements {
			rec.Events = append(rec.Events, contract.RecordEvent{Key: fmt.Sprint("measurement:", i), Kind: contract.EventMeasurement,
				Name: m.Metric, Status: m.Outcome, Detail: m.String(), At: m.At})
		}
		if an.Verdict != "" {
			rec.Events = append(rec.Events, contract.RecordEvent{Key: "analysis", Kind: contract.EventAnalysis, Name: pipelines.PhaseProduction,
				Status: an.Verdict, Detail: an.Reason, At: analysisEnd(an)})
		}
	}
	return rec
}

// analysisEnd is when the analysis's last measurement was taken.
func analysisEnd(an *contract.AnalysisResult) time.Time {
	if n := len(an.Measurements); n > 0 {
		return an.Measurements[n-1].At
	}
	return time.Time{}
}

func decisionEvent(phase, key, kind string, d Decision, detail string, at time.Time) contract.RecordEvent {
	return contract.RecordEvent{Key: key, Kind: kind, Name: phase, Actor: d.User, Via: d.Via, Detail: detail, At: at}
}

// rollbackRecords (change "rollback-record") has a Rollback run write its
// record as it ends: the records' DORA figures count rollbacks.
const rollbackRecords = 1

// recordRollback writes a Rollback run's record as it ends, however it
// ends (a cancelled run too).
func recordRollback(ctx workflow.Context, in RollbackInput, st *RollbackState, started time.Time, res RollbackResult, runErr error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if workflow.GetVersion(dctx, "rollback-record", workflow.DefaultVersion, rollbackRecords) < rollbackRecords {
		return
	}
	info := workflow.GetInfo(dctx)
	rec := contract.RunRecord{
		Kind: contract.RecordRollback, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		Pipeline: in.Pipeline, Project: in.Project, Author: in.By, Environment: "production",
		State: StateSucceeded, Started: started, Finished: workflow.Now(dctx), Seq: 1,
		Events: []contract.RecordEvent{{Key: "rollback", Kind: contract.RecordRollback, Name: in.Namespace, Actor: in.By,
			Detail: in.Reason, At: started}},
	}
	switch {
	case runErr == nil:
		rec.Commit, rec.Revision = res.Commit, fmt.Sprint(res.Version)
		rec.Events[0].Status = fmt.Sprintf("release %d live again as release %d", res.RollbackOf, res.Version)
	case temporal.IsCanceledError(runErr):
		rec.State, rec.Error = StateCancelled, runErr.Error()
	case st.Rejection != nil:
		rec.State, rec.Error = StateRejected, runErr.Error()
	default:
		rec.State, rec.Error = StateFailed, runErr.Error()
	}
	for i, d := range st.Approvals {
		rec.Events = append(rec.Events, decisionEvent(pipelines.PhaseApproval, fmt.Sprint("approval:", i), contract.EventApproval, d.Decision, d.Comment, d.At))
	}
	if d := st.Rejection; d != nil {
		rec.Events = append(rec.Events, decisionEvent(pipelines.PhaseApproval, "rejection", contract.EventRejected, d.Decision, d.Comment, d.At))
	}
	for i, d := range st.Refusals {
		rec.Events = append(rec.Events, decisionEvent(pipelines.PhaseApproval, fmt.Sprint("refusal:", i), contract.EventRefusal, d.Decision, d.Reason, d.At))
	}
	if err := startLocal(workflow.WithLocalActivityOptions(dctx, recordOptions), contract.RecordRun, rec).Get(dctx, nil); err != nil {
		workflow.GetLogger(dctx).Error("the rollback's record was not written", "error", err)
	}
}

// chaosRecords (change "chaos-record") has a chaos experiment write its
// verdict to the records as it ends: the experiment, its target, the
// verdict and every reason it did not pass.
const chaosRecords = 1

func (c *chaosRun) record(ctx workflow.Context) {
	if workflow.GetVersion(ctx, "chaos-record", workflow.DefaultVersion, chaosRecords) < chaosRecords {
		return
	}
	e := c.in.Experiment
	now := workflow.Now(ctx)
	rec := contract.RunRecord{
		Kind: contract.RecordChaos, WorkflowID: c.wid, RunID: c.rid, Pipeline: e.Name, Environment: e.Namespace, Project: c.in.Project,
		State: c.st.State, Started: workflow.GetInfo(ctx).WorkflowStartTime, Finished: now, Seq: 1,
	}
	for i, f := range c.st.Failures {
		rec.Events = append(rec.Events, contract.RecordEvent{Key: fmt.Sprint("failure:", i), Kind: contract.EventFailure, Name: e.Name, Detail: f, At: now})
	}
	if len(c.st.Failures) > 0 {
		rec.Error = c.st.Failures[0]
	}
	if err := startLocal(workflow.WithLocalActivityOptions(ctx, recordOptions), contract.RecordRun, rec).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("the experiment's record was not written", "error", err)
	}
}
