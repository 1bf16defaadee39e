package workflows

import (
	"cmp"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// phaseDef is the workflow's side of one phase; pipelines.Phases holds the
// spec's side (dependencies, enabled, timeout) under the same name. Each
// phase's run function lives in a file named after the phase.
type phaseDef struct {
	name string
	// progress: the phase's one activity sets the phase's "running" commit
	// status itself once it has run for progressGate (runs from epoch
	// workerProgress on; contract.Progress).
	progress bool
	// heartbeat, when set, is the heartbeat timeout of the phase's activity:
	// a dead worker is noticed within it and the activity retried elsewhere.
	heartbeat time.Duration
	// retry overrides defaultRetry.
	retry *temporal.RetryPolicy
	// run executes the phase; ctx carries the phase's activity options.
	run func(r *run, ctx workflow.Context) error
	// keep copies the outputs this phase produces from src to dst, so a
	// retry that resumes after the phase reuses them.
	keep func(dst *Outputs, src Outputs)
}

// phaseDefs lists the phases in run order; TestPhaseTableMatchesSpec keeps
// it in step with pipelines.Phases.
var phaseDefs = []phaseDef{
	buildPhase, testPhase, bakePhase, deployPhase,
	integrationPhase, chaosPhase, promotePhase, approvalPhase, productionPhase,
}

func phaseDefNamed(name string) (phaseDef, bool) {
	i := slices.IndexFunc(phaseDefs, func(d phaseDef) bool { return d.name == name })
	if i < 0 {
		return phaseDef{}, false
	}
	return phaseDefs[i], true
}

// StepHeartbeatTimeout is how long a step may go without a heartbeat before
// Temporal considers its worker dead and retries it elsewhere.
const StepHeartbeatTimeout = 15 * time.Second

// defaultRetry retries transient failures of a phase's activity.
var defaultRetry = temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumInterval:    30 * time.Second,
	MaximumAttempts:    5,
}

// maxWorkerLossRounds bounds how often a phase whose every attempt lost its
// worker is run again (each round has defaultRetry's attempts): a step
// that itself kills its worker (out of memory, say) fails after
// maxWorkerLossRounds x MaximumAttempts attempts, not never.
const maxWorkerLossRounds = 4

// rerunAfterWorkerLoss is the workflow.GetVersion of running a phase again
// when every attempt lost its worker; histories from before it fail there.
const rerunAfterWorkerLoss = 1

// workerLost tells whether err is an activity that stopped heartbeating: its
// worker died or lost Temporal, the phase itself did not fail.
func workerLost(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_HEARTBEAT
}

// options bounds the phase's activity by the spec's timeout and applies the
// phase's heartbeat and retry policy.
func (d phaseDef) options(spec *pipelines.Spec) workflow.ActivityOptions {
	timeout := spec.Timeout(d.name).D()
	retry := defaultRetry
	if d.retry != nil {
		retry = *d.retry
	}
	retry.NonRetryableErrorTypes = contract.NonRetryable()
	return workflow.ActivityOptions{
		ScheduleToCloseTimeout: timeout,
		StartToCloseTimeout:    timeout,
		HeartbeatTimeout:       d.heartbeat,
		RetryPolicy:            &retry,
	}
}

// OutputsBefore keeps only the outputs of the phases that come before phase:
// what a retry resuming at phase may reuse.
func OutputsBefore(phase string, o Outputs) Outputs {
	var out Outputs
	for _, d := range phaseDefs {
		if d.name == phase {
			break
		}
		if d.keep != nil {
			d.keep(&out, o)
		}
	}
	// a cell that passed passed for this commit: a retry never runs it again
	out.Passed, out.JobArtifacts = o.Passed, o.JobArtifacts
	return out
}

func (r *run) source() contract.Source {
	return contract.Source{CloneURL: r.in.Push.CloneURL, Commit: r.in.Push.Commit, Merge: r.in.Push.Merge}
}

// stepEnv is a phase's env with what Sluice tells every step about its
// run: SLUICE_REPO, SLUICE_COMMIT, SLUICE_EVENT, SLUICE_BRANCH or
// SLUICE_TAG, and SLUICE_INPUT_<NAME> for each input. The spec's own env
// wins where it names the same variable.
func (r *run) stepEnv(env map[string]string) map[string]string {
	p := r.in.Push
	out := map[string]string{"SLUICE_REPO": p.Repo, "SLUICE_COMMIT": p.Commit, "SLUICE_EVENT": cmp.Or(p.Event, pipelines.EventPush)}
	if p.Merge != "" {
		out["SLUICE_MERGE"] = p.Merge
	}
	if p.Tag != "" {
		out["SLUICE_TAG"] = p.Tag
	} else {
		out["SLUICE_BRANCH"] = p.Branch
	}
	for name, v := range p.Inputs {
		out[pipelines.InputEnv(name)] = v
	}
	maps.Copy(out, env)
	return out
}

// poolShare is the project's share of the pool's pods (0: none).
func (r *run) poolShare(pool string) (string, int) {
	g := r.governance()
	if g.Quota == nil || pool == "" {
		return g.Project, 0
	}
	return g.Project, g.Quota.PoolPods[pool]
}

// secrets names the server's secrets a phase gets (nil: none); the worker
// reads their values, never the workflow.
func (r *run) secrets(phase string, names []string) *contract.Secrets {
	if len(names) == 0 {
		return nil
	}
	return &contract.Secrets{Project: r.governance().Project, Branch: r.in.Push.Branch, Phase: phase, Names: names}
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// TestNamespace is the ephemeral namespace of a run: "sluice-<pipeline>-<id>",
// a valid DNS label, unique per run and the same on every replay. <id> is
// the last 12 hex digits of the run id: 48 random bits of a UUIDv7 (its
// first 12 are the start time in milliseconds, which two runs can share).
func TestNamespace(pipeline, runID string) string {
	id := strings.ReplaceAll(runID, "-", "")
	if len(id) > 12 {
		id = id[len(id)-12:]
	}
	return namespaceFor(pipeline, id)
}

// testNamespaceBefore4 is the test namespace of a run of an epoch before
// uniqueNamespace: the run id's first 12 hex digits. A run in flight across
// the upgrade keeps the namespace it made.
func testNamespaceBefore4(pipeline, runID string) string {
	id := strings.ReplaceAll(runID, "-", "")
	if len(id) > 12 {
		id = id[:12]
	}
	return namespaceFor(pipeline, id)
}

func namespaceFor(pipeline, id string) string {
	name := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(pipeline), "-"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	return strings.Trim("sluice-"+name, "-") + "-" + id
}
