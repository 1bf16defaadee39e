package workflows

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// maxJobsSummary bounds the phase summary made of its cells' summaries.
const maxJobsSummary = 1024

// jobs runs a phase's jobs (build's or test's): every cell is its own RunSteps activity in a
// workspace of its own, started as soon as the jobs it needs have passed,
// beside every other ready cell. Cells that passed, in this run or in the
// run a retry resumes, are not run again. With fail-fast the first failed
// cell cancels the running ones and starts no more; without, every cell
// whose needs passed runs. A job whose need did not pass is skipped.
//
// plans is planJobs' work: made outside the workflow's own code, which
// iterates no map.
func (r *run) jobs(ctx workflow.Context, phase string, cells []cellPlan, failFast bool) error {
	states := r.jobStates(phase, cells)
	// the build's pod is not what test's jobs run in: it goes back to the
	// pool now, for the cells to claim
	r.releasePod(ctx)

	cctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	running, stopping, progressGiven := 0, false, false
	var failed []string
	var firstErr error

	// done tells, for a job, whether all its cells passed, and whether any
	// of them ended otherwise
	done := func(job string) (passed, blocked bool) {
		passed = true
		for i, c := range cells {
			if c.job != job {
				continue
			}
			switch states[i].Status {
			case PhaseSucceeded, PhaseReused:
			case PhaseFailed, PhaseCancelled, JobSkipped:
				blocked, passed = true, false
			default:
				passed = false
			}
		}
		return passed, blocked
	}
	launch := func(i int, c cellPlan) {
		js, in := states[i], c.in
		// the artifacts of the build's jobs (test's cells), and of every
		// cell of the jobs it needs
		in.Fetch = slices.Clone(c.in.Fetch)
		for k, o := range cells {
			if ref := r.st.Outputs.JobArtifacts[cellKey(phase, states[k].Name)]; ref != "" && slices.Contains(c.needs, o.job) {
				in.Fetch = append(in.Fetch, ref)
			}
		}
		if p, ok := ctx.Value(progressKey{}).(*contract.Progress); ok && !progressGiven {
			in.SetProgress(p) // one cell says the phase runs
			progressGiven = true
		}
		actx := cctx
		if c.timeout > 0 {
			opts := workflow.GetActivityOptions(cctx)
			opts.ScheduleToCloseTimeout = min(opts.ScheduleToCloseTimeout, c.timeout)
			opts.StartToCloseTimeout = min(opts.StartToCloseTimeout, c.timeout)
			actx = workflow.WithActivityOptions(cctx, opts)
		}
		js.Status, js.Started, js.Finished, js.Error = PhaseRunning, workflow.Now(ctx), time.Time{}, ""
		running++
		sel.AddFuture(workflow.ExecuteActivity(actx, contract.RunSteps.Name, in), func(f workflow.Future) {
			running--
			var res contract.StepsResult
			err := f.Get(ctx, &res)
			js.Finished = workflow.Now(ctx)
			switch {
			case err == nil:
				js.Status, js.Summary = PhaseSucceeded, res.Summary
				r.st.Outputs.Passed[cellKey(phase, js.Name)] = res.Summary
				if res.Artifacts != "" {
					r.st.Outputs.JobArtifacts[cellKey(phase, js.Name)] = res.Artifacts
				}
			case temporal.IsCanceledError(err) && (stopping || ctx.Err() != nil):
				js.Status, js.Error = PhaseCancelled, "cancelled: "+cancelReason(ctx, failed)
			default:
				js.Status, js.Error = PhaseFailed, errorMessage(err)
				failed = append(failed, js.Name)
				if firstErr == nil || workerLost(firstErr) && !workerLost(err) {
					firstErr = err
				}
				if failFast && !stopping {
					stopping = true
					cancel()
				}
			}
		})
	}
	// start launches every ready cell and skips the ones whose needs
	// cannot pass any more, until nothing changes
	start := func() {
		for changed := true; changed; {
			changed = false
			for i, c := range cells {
				if states[i].Status != PhasePending {
					continue
				}
				ready, blockedBy := true, ""
				for _, n := range c.needs {
					passed, blocked := done(n)
					ready = ready && passed
					if blocked && blockedBy == "" {
						blockedBy = n
					}
				}
				switch {
				case blockedBy != "":
					states[i].Status, states[i].Error = JobSkipped, "needs job "+blockedBy+", which did not pass"
					changed = true
				case ready && !stopping && ctx.Err() == nil:
					launch(i, c)
					changed = true
				}
			}
		}
	}
	start()
	for running > 0 {
		sel.Select(ctx)
		start()
	}
	if ctx.Err() != nil {
		for _, js := range states {
			if js.Status == PhasePending {
				js.Status = PhaseCancelled
			}
		}
		return temporal.NewCanceledError()
	}
	if len(failed) > 0 {
		for _, js := range states {
			if js.Status == PhasePending {
				js.Status, js.Error = PhaseCancelled, "not started: "+cancelReason(ctx, failed)
			}
		}
		if workerLost(firstErr) {
			return firstErr // the phase runs again, without the cells that passed
		}
		msg := fmt.Sprintf("job %s failed: %s", failed[0], errorMessage(firstErr))
		if len(failed) > 1 {
			msg = fmt.Sprintf("%d job cells failed (%s); %s: %s", len(failed), strings.Join(failed, "; "), failed[0], errorMessage(firstErr))
		}
		return temporal.NewNonRetryableApplicationError(msg, contract.ErrStepFailed, firstErr)
	}
	if phase == pipelines.PhaseTest {
		r.st.Outputs.TestSummary = jobsSummary(states)
	}
	return nil
}

// cellKey names a cell in Outputs: its phase and its name
// ("test/unit (go=1.26)").
func cellKey(phase, name string) string { return phase + "/" + name }

// cellPlan is one cell as the workflow runs it.
type cellPlan struct {
	name, job string
	needs     []string
	in        contract.StepsInput
	timeout   time.Duration
}

// planJobs is every cell of a phase's jobs with the input of its
// activity: its job's commands and pool (build.pool unless it names one),
// the phase's env under the job's under the cell's matrix values; test's
// cells fetch the artifacts of the build's jobs.
func (r *run) planJobs(phase string, jobs pipelines.Jobs, env map[string]string, timeout pipelines.Duration, secrets []string) []cellPlan {
	var fetch []string
	if phase == pipelines.PhaseTest {
		fetch = r.buildJobArtifacts()
	}
	var out []cellPlan
	for _, c := range jobs.Cells() {
		j := jobs[c.Job]
		pool := j.Pool
		if pool == "" && r.in.Spec.Build != nil {
			pool = r.in.Spec.Build.Pool
		}
		cellEnv := map[string]string{}
		maps.Copy(cellEnv, env)
		maps.Copy(cellEnv, j.Env)
		maps.Copy(cellEnv, c.Env())
		in := contract.StepsInput{
			RunID: r.runID, Phase: phase, Source: r.source(), Pool: pool,
			Commands: j.Commands, Env: r.stepEnv(cellEnv), Timeout: cmpDuration(j.Timeout, timeout).D(), JUnit: j.JUnit,
			Secrets: r.secrets(phase, secrets), Cell: c.Key(), Job: c.Name(),
			Artifacts: j.Artifacts, Repo: r.in.Push.Repo, Fetch: fetch,
		}
		in.Project, in.PoolShare = r.poolShare(pool)
		for _, sv := range j.Services {
			in.Services = append(in.Services, contract.StepsService{Name: sv.Name, Image: sv.Image, Ports: sv.Ports, Env: sv.Env})
		}
		if cc := j.Cache; cc != nil {
			p := r.in.Push
			in.Cache = &contract.StepsCache{Repo: p.Repo, Job: c.Job, Key: cc.Key, Paths: cc.Paths,
				Scope: strings.Join([]string{r.in.Spec.Name, p.Pipeline, p.Branch, phase, c.Name()}, "\x00")}
		}
		out = append(out, cellPlan{name: c.Name(), job: c.Job, needs: j.Needs, in: in, timeout: j.Timeout.D()})
	}
	return out
}

// buildJobArtifacts are the artifacts the build's jobs kept, in their
// cells' order.
func (r *run) buildJobArtifacts() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r.st.Outputs.JobArtifacts)) {
		if strings.HasPrefix(k, pipelines.PhaseBuild+"/") {
			out = append(out, r.st.Outputs.JobArtifacts[k])
		}
	}
	return out
}

// jobStates is the run's state of each cell, made on the phase's first
// try: a cell the resumed run passed is reused; a later try (its worker
// lost) keeps what the earlier one recorded.
func (r *run) jobStates(phase string, cells []cellPlan) []*JobState {
	if r.st.Outputs.Passed == nil {
		r.st.Outputs.Passed = map[string]string{}
	}
	if r.st.Outputs.JobArtifacts == nil {
		r.st.Outputs.JobArtifacts = map[string]string{}
	}
	first := !slices.ContainsFunc(r.st.Jobs, func(j JobState) bool { return j.Phase == phase })
	if first {
		for _, c := range cells {
			js := JobState{Phase: phase, Name: c.name, Status: PhasePending}
			if sum, ok := r.st.Outputs.Passed[cellKey(phase, js.Name)]; ok {
				js.Status, js.Summary = PhaseReused, sum
			}
			r.st.Jobs = append(r.st.Jobs, js)
		}
	}
	var out []*JobState
	for i := range r.st.Jobs {
		js := &r.st.Jobs[i]
		if js.Phase != phase {
			continue
		}
		if js.Status != PhaseSucceeded && js.Status != PhaseReused {
			*js = JobState{Phase: js.Phase, Name: js.Name, Status: PhasePending}
		}
		out = append(out, js)
	}
	return out
}

func cancelReason(ctx workflow.Context, failed []string) string {
	if ctx.Err() != nil || len(failed) == 0 {
		return "the run was cancelled"
	}
	return "job " + failed[0] + " failed (fail-fast)"
}

func cmpDuration(a, b pipelines.Duration) pipelines.Duration {
	if a > 0 {
		return a
	}
	return b
}

// jobsSummary is the phase's summary: each cell's, bounded.
func jobsSummary(states []*JobState) string {
	parts := make([]string, 0, len(states))
	for _, js := range states {
		parts = append(parts, js.Name+": "+js.Summary)
	}
	s := fmt.Sprintf("%d job cells passed; %s", len(states), strings.Join(parts, "; "))
	if len(s) > maxJobsSummary {
		s = strings.ToValidUTF8(s[:maxJobsSummary-3], "") + "..."
	}
	return s
}
