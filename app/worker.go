package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sluice-cd/sluice/analysis"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitstatus"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/request"
	"github.com/sluice-cd/sluice/worker"
)

// ChaosSweepInterval is how often a worker removes chaos faults past their
// expiry: the bound on how long a fault outlives a terminated experiment
// beyond its expiry.
const ChaosSweepInterval = 10 * time.Second

// SweepInterval is how often a worker looks for test environments whose
// run was lost.
const SweepInterval = time.Minute

// NewWorker builds the worker of `dev` and `worker` on c. Until ctx ends
// it also keeps the configuration's pools (when elected) and sweeps lost
// test environments and expired chaos faults.
func (a *App) NewWorker(ctx context.Context, c client.Client) (sdkworker.Worker, error) {
	wc, err := a.workerConfig(c)
	if err != nil {
		return nil, err
	}
	pools, err := LoadPools(a.cfg, a.opts.Platform.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if pools != nil {
		pools.observe(ctx, a.metrics)
		wc.Pools, wc.PoolSizers = pools.executors(), pools.sizers()
		pools.keep(ctx, a.log)
	}
	if err := a.connectCluster(ctx, c, &wc); err != nil {
		return nil, err
	}
	return worker.New(c, wc)
}

// workerConfig gathers what the worker's activities need: commit status
// reporters, the step user, registry endpoints, the keys and chat.
func (a *App) workerConfig(c client.Client) (worker.Config, error) {
	if a.opts.StickyCache < 1 {
		return worker.Config{}, fmt.Errorf("--sticky-cache %d: must be at least 1", a.opts.StickyCache)
	}
	// process-wide in the SDK; every worker of this process shares it
	sdkworker.SetStickyWorkflowCacheSize(a.opts.StickyCache)
	statuses, err := a.statusReporters()
	if err != nil {
		return worker.Config{}, err
	}
	user, err := executor.ParseStepUser(a.opts.StepUser)
	if err != nil {
		return worker.Config{}, err
	}
	endpoints, err := image.ParseEndpoints(a.opts.RegistryEndpoints)
	if err != nil {
		return worker.Config{}, fmt.Errorf("--registry-endpoint: %w", err)
	}
	endpoints.Use()
	a.wallSteps(context.Background(), user)
	if user == nil {
		a.log.Warn("build steps run as this worker's own user and can read everything it can (its environment, secret files, logs); run the worker as root to have them run as an unprivileged user", "uid", os.Geteuid())
	}
	key, err := a.decisionKey()
	if err != nil {
		return worker.Config{}, err
	}
	platform := a.opts.Platform
	if p := a.cfg.Prometheus; p != nil {
		platform.Prometheus = &analysis.Prometheus{URL: p.URL, Token: p.TokenValue()}
	}
	if platform.VulnDB != "" {
		// read it once now, so that a wrong path fails at startup, not at
		// the first promote
		db, err := image.CachedVulnDB(platform.VulnDB)
		if err != nil {
			return worker.Config{}, fmt.Errorf("--vulnerability-db: %w", err)
		}
		a.log.Info("vulnerability database", "dir", platform.VulnDB, "entries", db.Entries)
	}
	if platform.Registry != "" || platform.BuildKitAddr != "" {
		if platform.Signer, err = a.imageSigner(); err != nil {
			return worker.Config{}, err
		}
		platform.Verifier = platform.Signer.Verifier()
	}
	return worker.Config{Metrics: a.metrics, Log: a.log, DataDir: a.dir, Platform: platform, Secrets: a.secrets(), Runs: a.runsClient(c),
		Chat: a.chat(), Statuses: statuses, UIURL: a.opts.UIURL, StepUser: user, StepHome: a.opts.StepHome,
		ApproverGroups: a.cfg.ApproverGroups, Projects: a.cfg.Projects, DecisionKey: key.Public().(ed25519.PublicKey), Records: a.records, LogBucket: a.logBucket,
		// scheduled runs are built as the server builds a push's: under
		// this configuration, which must be the server's
		Requests: &request.Builder{Config: a.cfg, ReadTimeout: time.Minute}}, nil
}

// connectCluster connects the worker to the deploy cluster, when it has
// one, and sweeps what lost runs and expired chaos faults left there.
func (a *App) connectCluster(ctx context.Context, c client.Client, wc *worker.Config) error {
	k := wc.Platform.Kubeconfig
	if a.opts.InCluster && k != "" {
		return fmt.Errorf("--in-cluster and --kubeconfig %s (or KUBECONFIG): choose one", k)
	}
	if (k == "" && !a.opts.InCluster) || wc.Platform.Cluster != nil {
		return nil
	}
	wc.Platform.Clusters = &environments.Clusters{Kubeconfig: k, InCluster: a.opts.InCluster}
	var err error
	if wc.Platform.Cluster, err = wc.Platform.Clusters.Context(""); err != nil {
		return err
	}
	envs := &environments.Sweeper{Cluster: wc.Platform.Cluster, Log: a.log, Running: func(ctx context.Context, wf, run string) (bool, error) {
		return runIsGoing(ctx, c, wf, run)
	}}
	go envs.Run(ctx, SweepInterval)
	if ch := a.cfg.Chaos; ch != nil && ch.NodePower != nil {
		wc.Platform.NodePower = &chaos.CommandPower{StopCommand: ch.NodePower.Stop, StartCommand: ch.NodePower.Start}
	}
	faults := &chaos.Sweeper{Client: wc.Platform.Cluster.Client, Power: wc.Platform.NodePower, Log: a.log}
	go faults.Run(ctx, ChaosSweepInterval)
	return nil
}

// runIsGoing asks Temporal whether a run is still running; a run Temporal
// has no record of is not.
func runIsGoing(ctx context.Context, c client.Client, workflowID, runID string) (bool, error) {
	if workflowID == "" {
		return false, nil
	}
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, runID)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// statusReporters are the commit status reporters of the repositories
// with an API token, by repository name.
func (a *App) statusReporters() (map[string]gitstatus.Reporter, error) {
	statuses := map[string]gitstatus.Reporter{}
	for _, r := range a.cfg.Repositories {
		if r.Token() == "" {
			continue
		}
		rep, err := gitstatus.New(r.Provider, r.API, r.Token())
		if err != nil {
			return nil, fmt.Errorf("commit statuses for %s: %w", r.Name, err)
		}
		statuses[r.Name] = rep
	}
	return statuses, nil
}
