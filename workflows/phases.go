package workflows

import (
	"regexp"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/pipelines"
)

// StepHeartbeatTimeout is how long a step may go without a heartbeat before
// Temporal considers its worker dead and retries it elsewhere.
const StepHeartbeatTimeout = 15 * time.Second

// nonRetryable lists the error types no retry can fix.
var nonRetryable = []string{
	activities.ErrStepFailed, activities.ErrInvalidInput, activities.ErrNotConfigured,
	activities.ErrUnsupported, activities.ErrSource,
}

// phaseOptions bounds a phase's activity by the spec's timeout, retries
// transient failures, and (for steps) detects dead workers by heartbeat.
func phaseOptions(timeout pipelines.Duration, heartbeat bool) workflow.ActivityOptions {
	o := workflow.ActivityOptions{
		ScheduleToCloseTimeout: timeout.D(),
		StartToCloseTimeout:    timeout.D(),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: nonRetryable,
		},
	}
	if heartbeat {
		o.HeartbeatTimeout = StepHeartbeatTimeout
	}
	return o
}

func (r *run) source() activities.Source {
	return activities.Source{CloneURL: r.in.Push.CloneURL, Commit: r.in.Push.Commit}
}

// phase runs one phase and records its outputs. Undo entries are pushed
// before the activity starts: each undo is idempotent, so a phase that fails
// half-way is cleaned up as well as one that finished.
func (r *run) phase(ctx workflow.Context, name string) error {
	spec := &r.in.Spec
	ctx = workflow.WithActivityOptions(ctx, phaseOptions(spec.Timeout(name), name == pipelines.PhaseBuild || name == pipelines.PhaseTest))
	var steps *activities.Steps
	var platform *activities.Platform
	out := &r.st.Outputs
	base := activities.PhaseInput{RunID: r.runID, Phase: name, Source: r.source(), Workspace: out.Workspace}
	var res activities.PhaseResult

	switch name {
	case pipelines.PhaseBuild, pipelines.PhaseTest:
		in := activities.StepsInput{RunID: r.runID, Phase: name, Source: r.source(), Workspace: out.Workspace}
		if name == pipelines.PhaseBuild {
			in.Commands, in.Env, in.Timeout = spec.Build.Commands, spec.Build.Env, spec.Build.Timeout.D()
		} else {
			in.Commands, in.Env, in.Timeout, in.JUnit = spec.Test.Commands, spec.Test.Env, spec.Test.Timeout.D(), spec.Test.JUnit
		}
		var sr activities.StepsResult
		if err := workflow.ExecuteActivity(ctx, steps.Run, in).Get(ctx, &sr); err != nil {
			return err
		}
		out.Workspace = sr.Workspace
		if name == pipelines.PhaseTest {
			out.TestSummary = sr.Summary
		}
		return nil

	case pipelines.PhaseBake:
		in := base
		in.Image, in.Dockerfile, in.Context, in.BuildArgs = spec.Bake.Image, spec.Bake.Dockerfile, spec.Bake.Context, spec.Bake.BuildArgs
		if err := workflow.ExecuteActivity(ctx, platform.Bake, in).Get(ctx, &res); err != nil {
			return err
		}
		out.Image, out.Digest = res.Image, res.Digest
		return nil

	case pipelines.PhaseDeploy:
		in := base
		in.Image, in.Digest, in.Manifests = out.Image, out.Digest, spec.Deploy.Manifests
		if spec.Deploy.Environment == "staging" {
			in.Namespace = spec.Environments.Staging.Namespace
		} else {
			in.Namespace = TestNamespace(spec.Name, r.runID)
			r.push(Undo{Phase: name, Activity: "DeleteEnvironment", Always: true,
				Input: activities.UndoInput{RunID: r.runID, Namespace: in.Namespace}})
		}
		if err := workflow.ExecuteActivity(ctx, platform.Deploy, in).Get(ctx, &res); err != nil {
			return err
		}
		out.Environment = in.Namespace
		return nil

	case pipelines.PhaseIntegration:
		in := base
		in.Namespace, in.Image, in.Commands, in.Env = out.Environment, spec.Integration.Image, spec.Integration.Commands, spec.Integration.Env
		if err := workflow.ExecuteActivity(ctx, platform.Integration, in).Get(ctx, &res); err != nil {
			return err
		}
		out.IntegrationSummary = res.Summary
		return nil

	case pipelines.PhasePromote:
		in := base
		in.Image, in.Digest, in.Tag = out.Image, out.Digest, spec.Promote.Tag
		r.push(Undo{Phase: name, Activity: "RemoveTag",
			Input: activities.UndoInput{RunID: r.runID, Image: out.Image, Digest: out.Digest, Tag: spec.Promote.Tag}})
		if err := workflow.ExecuteActivity(ctx, platform.MarkAvailable, in).Get(ctx, &res); err != nil {
			return err
		}
		out.AvailableTag = spec.Promote.Tag
		return nil

	case pipelines.PhaseApproval:
		return r.approval(ctx)

	case pipelines.PhaseProduction:
		in := base
		in.Image, in.Digest, in.Manifests = out.Image, out.Digest, spec.Production.Manifests
		in.Namespace, in.Strategy = spec.Environments.Production.Namespace, spec.Environments.Production.Strategy
		if v := spec.Production.Verify; v != nil {
			in.Commands = v.Commands
		}
		if err := workflow.ExecuteActivity(ctx, platform.Production, in).Get(ctx, &res); err != nil {
			return err
		}
		out.ProductionRevision = res.Revision
		return nil
	}
	return temporal.NewNonRetryableApplicationError("unknown phase "+name, activities.ErrInvalidInput, nil)
}

func (r *run) push(u Undo) { r.st.Undo = append(r.st.Undo, u) }

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// TestNamespace is the ephemeral namespace of a run: "sluice-<pipeline>-<run>",
// a valid DNS label, unique per run and the same on every replay.
func TestNamespace(pipeline, runID string) string {
	name := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(pipeline), "-"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	id := strings.ReplaceAll(runID, "-", "")
	if len(id) > 12 {
		id = id[:12]
	}
	return strings.Trim("sluice-"+name, "-") + "-" + id
}
