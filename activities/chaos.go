package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/logstore"
)

// Chaos injects and removes the faults of chaos experiments on the
// worker's cluster and observes their targets.
type Chaos struct {
	Cluster *environments.Cluster
	// NodePower stops and starts nodes for node-down and zone-down faults
	// (nil: they are refused).
	NodePower chaos.NodePower
	Logs      *logstore.Store
}

// chaosErr makes a target that cannot be experimented on a non-retryable
// error; anything else (the API server away) is retried.
func chaosErr(err error) error {
	if errors.Is(err, chaos.ErrTarget) {
		return invalid("%v", err)
	}
	return err
}

func (ch *Chaos) chaosCluster(what string) (*chaos.Injector, error) {
	if ch.Cluster == nil {
		return nil, missing(what, needKubeconfig)
	}
	return &chaos.Injector{Client: ch.Cluster.Client, Power: ch.NodePower}, nil
}

// ChaosObserve probes the experiment's target until in.Until. It
// heartbeats what it saw so far each second; a retried attempt (its worker
// was lost) continues from there and marks the time nobody probed.
func (ch *Chaos) ChaosObserve(ctx context.Context, in contract.ObserveInput) (_ contract.Observation, err error) {
	defer classify(&err)
	inj, err := ch.chaosCluster("chaos")
	if err != nil {
		return contract.Observation{}, err
	}
	t := chaos.Target{Client: inj.Client, Namespace: in.Namespace, Service: in.Service}
	url, err := t.URL(ctx, in.Port, in.Path)
	if err != nil {
		return contract.Observation{}, chaosErr(err)
	}
	var prior contract.Observation
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &prior)
	}
	pr := &chaos.Prober{URL: url, Rate: in.Rate, Timeout: in.Timeout}
	if activity.IsActivity(ctx) {
		pr.Progress = func(so contract.Observation) { activity.RecordHeartbeat(ctx, chaos.Merge(prior, so)) }
	}
	o, err := pr.Run(ctx, time.Until(in.Until))
	if err != nil {
		return contract.Observation{}, fmt.Errorf("probe %s: %w", url, err)
	}
	return chaos.Merge(prior, o), nil
}

// InjectFault injects one fault of an experiment.
func (ch *Chaos) InjectFault(ctx context.Context, in contract.FaultInput) (_ contract.FaultResult, err error) {
	defer classify(&err)
	inj, err := ch.chaosCluster("chaos")
	if err != nil {
		return contract.FaultResult{}, err
	}
	if in.Fault.Kind == contract.FaultPodKill && activity.IsActivity(ctx) {
		// a retried kill deletes the pods the lost attempt chose, not more
		if activity.HasHeartbeatDetails(ctx) {
			_ = activity.GetHeartbeatDetails(ctx, &inj.Prior)
		}
		inj.Chose = func(pods []string) { activity.RecordHeartbeat(ctx, pods) }
	}
	summary, err := inj.Inject(ctx, in)
	if err != nil {
		return contract.FaultResult{}, chaosErr(err)
	}
	activity.GetLogger(ctx).Info("chaos fault injected", "fault", in.Fault.Kind, "index", in.Index, "summary", summary)
	return contract.FaultResult{Summary: summary}, nil
}

// RemoveFault lifts a fault; idempotent. Without a cluster no fault can
// have been injected.
func (ch *Chaos) RemoveFault(ctx context.Context, in contract.FaultInput) (err error) {
	defer classify(&err)
	if ch.Cluster == nil {
		return nil
	}
	defer heartbeat(ctx)()
	inj := &chaos.Injector{Client: ch.Cluster.Client, Power: ch.NodePower}
	summary, err := inj.Remove(ctx, in)
	if err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("chaos fault removed", "fault", in.Fault.Kind, "index", in.Index, "summary", summary)
	return nil
}

// LoadExperiments reads the chaos phase's experiment files at the run's
// commit, checks them (a problem fails the phase with its file and line,
// not retried), and points each at the run's test environment.
func (ch *Chaos) LoadExperiments(ctx context.Context, in contract.ExperimentsInput) (_ []contract.Experiment, err error) {
	defer classify(&err)
	if in.Namespace == "" {
		return nil, invalid("the chaos phase needs the deploy phase's test environment")
	}
	src, done, err := checkout(ctx, in.Source)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []contract.Experiment
	var problems []string
	for _, f := range in.Files {
		if !filepath.IsLocal(f) {
			problems = append(problems, fmt.Sprintf("chaos.experiments: %q must be a file inside the repository", f))
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			problems = append(problems, fmt.Sprintf("chaos.experiments: %s is not in commit %.12s", f, in.Source.Commit))
			continue
		}
		e, err := chaos.Parse(f, data)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		e.Namespace = in.Namespace
		out = append(out, *e)
	}
	if len(problems) > 0 {
		return nil, invalid("%s", strings.Join(problems, "\n"))
	}
	if log, err := ch.Logs.Writer(in.RunID, "chaos"); err == nil {
		for _, e := range out {
			fmt.Fprintf(log, "experiment %s (%s): %d fault(s) against %s/%s, SLO: error window at most %s\n", e.Name, e.File, len(e.Faults), e.Namespace, e.Service, e.SLO.MaxErrorWindow)
		}
		log.Close()
	}
	return out, nil
}
