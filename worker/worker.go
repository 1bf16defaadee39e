// Package worker builds the Temporal worker that runs Sluice's workflows and
// activities, wiring each activity struct to its clients once.
package worker

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"gocloud.dev/blob"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/contract/bind"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitstatus"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/metrics"
	"github.com/sluice-cd/sluice/policy"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/request"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/secrets"
	"github.com/sluice-cd/sluice/workflows"
)

// Config is what a worker needs besides its Temporal client.
type Config struct {
	// DataDir holds workspaces/ and logs/. Required.
	DataDir string
	// TaskQueue defaults to workflows.TaskQueue.
	TaskQueue string
	// Platform addresses for bake, deploy, integration, promote, production.
	Platform activities.Platform
	// Secrets are values redacted from every log line.
	Secrets []string
	// Projects are the server's policy: the worker reads a phase's
	// pipeline secrets after checking again that its project gives them.
	Projects []policy.Project
	// Chat, when set, receives notices (approval requests, results).
	Chat activities.Chat
	// Executor runs build and test commands. Default: a local executor in
	// DataDir/workspaces whose commands run as StepUser.
	Executor executor.Executor
	// StepUser is the account local commands run as (nil: the worker's
	// own); StepHome their HOME (default DataDir/workspaces/.home).
	StepUser *executor.StepUser
	StepHome string
	// ApproverGroups are the configuration's groups, for approval gates.
	ApproverGroups map[string][]string
	// DecisionKey is the public key of the Sluice server that signs
	// approvals; without one, gates accept unsigned decisions.
	DecisionKey ed25519.PublicKey
	// Pools are executors of warm build-pod pools, by the name a spec's
	// build.pool uses.
	Pools map[string]executor.Executor
	// PoolSizers are the same pools, for PoolSize runs.
	PoolSizers map[string]activities.PoolSizer
	// Statuses report commit statuses, by repository name.
	Statuses map[string]gitstatus.Reporter
	// UIURL is the Temporal Web UI base for links in statuses.
	UIURL string
	// Requests builds the requests of scheduled runs, under the server's
	// configuration; nil: this worker does not start scheduled runs
	// (Temporal gives them to a worker that does).
	Requests *request.Builder
	// Runs starts pipelines for webhook deliveries (the Dispatch workflow).
	// Default: a client on the worker's own connection.
	Runs *runs.Client
	// Records is where runs are recorded. Default: a SQLite file in
	// DataDir (records.db).
	Records *records.Store
	// LogBucket, when set, is the object store run logs are shipped to.
	LogBucket *blob.Bucket
	// Metrics, when set, observe every activity and count finished runs.
	Metrics *metrics.Metrics
	// Log receives the worker's logs; activities log with the run's keys
	// (run, pipeline, activity, and phase, step, pod where they apply).
	// Default: slog's default logger.
	Log *slog.Logger
}

// FallbackWorkspaces is where the workspaces of a data dir the step user
// cannot reach live: one directory per data dir under the temp dir.
func FallbackWorkspaces(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(os.TempDir(), "sluice-workspaces-"+hex.EncodeToString(sum[:6]))
}

// RecordsFile is the SQLite records database of a data dir, the default
// when no other is configured.
func RecordsFile(dataDir string) string { return filepath.Join(dataDir, "records.db") }

// LogDir is where a data dir keeps run logs.
func LogDir(dataDir string) string { return filepath.Join(dataDir, "logs") }

// New returns a worker (not yet started) with every workflow and activity registered.
func New(c client.Client, cfg Config) (sdkworker.Worker, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("worker needs a data dir for workspaces and logs")
	}
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = workflows.TaskQueue
	}
	logs, err := logstore.New(LogDir(cfg.DataDir), cfg.Secrets)
	if err != nil {
		return nil, err
	}
	if cfg.LogBucket != nil {
		// for the process's life: the lines of runs it worked on are
		// shipped until it ends (the next process on the data dir ships
		// what was left)
		if err := logs.Ship(context.Background(), cfg.LogBucket, cmp.Or(cfg.Log, slog.Default())); err != nil {
			return nil, err
		}
	}
	exec := cfg.Executor
	if exec == nil {
		l := &executor.Local{Root: filepath.Join(cfg.DataDir, "workspaces"), User: cfg.StepUser, Home: cfg.StepHome}
		err := l.Init()
		if errors.Is(err, executor.ErrUnreachable) && cfg.StepHome == "" {
			// a data dir under a private home (/root/...): the step user
			// cannot pass through, so workspaces live in the temp dir
			l.Root = FallbackWorkspaces(cfg.DataDir)
			slog.Info("the step user cannot reach the data dir; workspaces are elsewhere", "workspaces", l.Root, "reason", err)
			err = l.Init()
		}
		if err != nil {
			return nil, err
		}
		exec = l
	}
	if k := cfg.Platform.Kubeconfig; k != "" {
		if cfg.Platform.Clusters == nil {
			cfg.Platform.Clusters = &environments.Clusters{Kubeconfig: k}
		}
		if cfg.Platform.Cluster == nil {
			var err error
			if cfg.Platform.Cluster, err = cfg.Platform.Clusters.Context(""); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Runs == nil {
		cfg.Runs = &runs.Client{Temporal: c, TaskQueue: cfg.TaskQueue}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Records == nil {
		if cfg.Records, err = records.Open(context.Background(), RecordsFile(cfg.DataDir), ""); err != nil {
			return nil, err
		}
	}
	opts := Options(&observe{m: cfg.Metrics, log: cfg.Log})
	crash, err := crashAfterFromEnv()
	if err != nil {
		return nil, err
	}
	if crash != nil {
		cfg.Log.Warn("crash points armed: this worker kills itself after the first run of each listed activity of each run", "activities", os.Getenv(EnvCrashAfter))
		opts.Interceptors = append(opts.Interceptors, crash)
	}
	nameBinary()
	w := sdkworker.New(c, cfg.TaskQueue, opts)
	Register(w, cfg, exec, logs)
	return w, nil
}

// EagerActivitiesPerTask is how many of the activities one workflow task
// schedules this worker starts from the task's reply instead of through
// matching. A run's end schedules four at once (its cleanups, its last
// notice, its final status): with the SDK's default of 3 the fourth went
// through matching, finished after the others and cost the run a workflow
// task of its own.
const EagerActivitiesPerTask = 8

// Options are the SDK worker options of a Sluice worker, with its
// interceptors. Tests and benchmarks that build their own workers use them.
func Options(interceptors ...interceptor.WorkerInterceptor) sdkworker.Options {
	eager := EagerActivitiesPerTask
	return sdkworker.Options{Interceptors: interceptors, MaxEagerActivityReservationsPerWorkflowTask: &eager}
}

// Register adds Sluice's workflows and activities to w. Tests use it to
// build workers with their own executor.
func Register(w sdkworker.Registry, cfg Config, exec executor.Executor, logs *logstore.Store) {
	w.RegisterWorkflow(workflows.Pipeline)
	w.RegisterWorkflow(workflows.Dispatch)
	w.RegisterWorkflow(workflows.Chaos)
	w.RegisterWorkflow(workflows.Rollback)
	w.RegisterWorkflow(workflows.PoolSize)
	w.RegisterWorkflow(workflows.Quota)
	w.RegisterWorkflow(workflows.Scheduled)
	if cfg.Runs != nil {
		d := &runs.Dispatcher{Client: cfg.Runs}
		bind.Activity(w, contract.StartPipeline, d.StartPipeline)
		if cfg.Requests != nil {
			s := &runs.Scheduler{Client: cfg.Runs, Builder: cfg.Requests}
			bind.Activity(w, contract.StartScheduled, s.StartScheduled)
		}
		bind.Activity(w, contract.QuotaAcquire, cfg.Runs.QuotaAcquire)
		bind.Activity(w, contract.QuotaEnded, cfg.Runs.QuotaEnded)
	}
	pipelineSecrets := &secrets.Reader{Projects: cfg.Projects}
	if cfg.Platform.Cluster != nil {
		pipelineSecrets.Kube = cfg.Platform.Cluster.Client
	}
	steps := &activities.Steps{Exec: exec, Pools: cfg.Pools, Logs: logs, Secrets: pipelineSecrets, CacheRegistry: cfg.Platform.Registry}
	platform := cfg.Platform
	platform.Logs = logs
	notify := &activities.Notify{Logs: logs, Chat: cfg.Chat}
	if cfg.Metrics != nil {
		notify.Finished = cfg.Metrics.RunsFinished
	}
	status := &activities.CommitStatus{Reporters: cfg.Statuses, UIURL: cfg.UIURL}

	// the activities that run a whole phase set its "running" status once
	// they have run for a while (contract.Progress)
	bind.Activity(w, contract.RunSteps, activities.ReportingProgress(status, steps.Run))
	bind.Undo(w, contract.ReleaseWorkspace, steps.Cleanup)
	images, envs, releases, chaos := platform.Images(), platform.Environments(), platform.Releases(), platform.Chaos()
	envs.Secrets, releases.Secrets = pipelineSecrets, pipelineSecrets
	bind.Activity(w, contract.Bake, activities.ReportingProgress(status, images.Bake))
	bind.Activity(w, contract.MarkAvailable, activities.ReportingProgress(status, images.MarkAvailable))
	bind.Undo(w, contract.RemoveTag, images.RemoveTag)
	bind.Activity(w, contract.Deploy, activities.ReportingProgress(status, envs.Deploy))
	bind.Undo(w, contract.DeleteEnvironment, envs.DeleteEnvironment)
	bind.Activity(w, contract.Integration, activities.ReportingProgress(status, envs.Integration))
	bind.Activity(w, contract.Production, activities.ReportingProgress(status, releases.Production))
	bind.Undo(w, contract.UndoRelease, releases.UndoRelease)
	bind.Activity(w, contract.RetireRelease, releases.RetireRelease)
	bind.Activity(w, contract.Analyze, releases.Analyze)
	bind.Activity(w, contract.SetCanaryWeight, releases.SetCanaryWeight)
	bind.Activity(w, contract.PromoteCanary, releases.PromoteCanary)
	bind.Activity(w, contract.RollbackRelease, releases.RollbackRelease)
	bind.Activity(w, contract.SizePool, (&activities.Pools{Sizers: cfg.PoolSizers}).SizePool)
	bind.Activity(w, contract.ChaosObserve, chaos.ChaosObserve)
	bind.Activity(w, contract.LoadExperiments, chaos.LoadExperiments)
	bind.Activity(w, contract.InjectFault, chaos.InjectFault)
	bind.Undo(w, contract.RemoveFault, chaos.RemoveFault)
	bind.Activity(w, contract.SendNotice, notify.Send)
	approvals := &activities.Approvals{Groups: cfg.ApproverGroups, Key: cfg.DecisionKey}
	bind.Activity(w, contract.GetApprovalPolicy, approvals.Policy)
	bind.Activity(w, contract.SetCommitStatus, status.SetStatus)
	bind.Activity(w, contract.RecordRun, (&activities.Records{Store: cfg.Records}).Record)
}
