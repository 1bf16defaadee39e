// Package app assembles Sluice's processes — the server, the worker and
// the dev server that holds both beside an embedded Temporal — from the
// other packages. It is the composition root: cmd/sluice parses flags
// into Options and calls Open; nothing below this package knows how the
// parts are wired together.
//
// An App is opened once per process, used from one goroutine while it is
// assembled, and closed when the process stops.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"gocloud.dev/blob"

	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/metrics"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/telemetry"
	"github.com/sluice-cd/sluice/worker"
)

// Options are what a process was told by its flags and environment.
type Options struct {
	// Service names the process in traces ("sluice-worker").
	Service string
	// DataDir holds the Temporal database, workspaces, logs and keys.
	DataDir string
	// ConfigFile is the server configuration (empty: no webhooks, no chat).
	ConfigFile string
	// Dev is `sluice dev`: without API tokens in the configuration it
	// makes one in the data dir for the CLI on this machine.
	Dev bool
	// UIURL is the Temporal Web UI, for links in chat and statuses.
	UIURL string

	// HTTPHost and HTTPPort are where the HTTP server (API, webhooks, chat)
	// listens.
	HTTPHost string
	HTTPPort int

	// Platform holds the BuildKit, registry, kubeconfig and vulnerability
	// database the later phases use.
	Platform activities.Platform
	// InCluster deploys into the cluster the worker's pod runs in.
	InCluster bool
	// RegistryEndpoints are REGISTRY=HOST:PORT overrides.
	RegistryEndpoints []string
	// StepUser ("auto", "none", "UID[:GID]") and StepHome are the account
	// and HOME local build steps run with.
	StepUser, StepHome string
	// DecisionKey is the key the server vouches for approvers with
	// (default DATA_DIR/decision-key).
	DecisionKey string
	// SigningKey signs baked images (default DATA_DIR/signing.key);
	// SigningPasswordFile holds its password (else SLUICE_SIGNING_PASSWORD).
	SigningKey, SigningPasswordFile string
	// Records is the records database: a postgres:// URL (password in
	// SLUICE_RECORDS_DB_PASSWORD) or a SQLite file (default
	// DATA_DIR/records.db). RecordsRetention, when set, is how long the
	// server keeps the records of finished runs.
	Records          string
	RecordsRetention time.Duration
	// Logs is the object store run logs are shipped to and read from
	// (file:///DIR or s3://BUCKET?...; empty: each data dir keeps its own
	// and a server serves its own). LogsRetention, when set, is how long
	// the server keeps them there.
	Logs          string
	LogsRetention time.Duration
	// ConsoleSession is how long a sign-in to the web console lasts.
	ConsoleSession time.Duration
	// MetricsAddr serves /metrics and /healthz (empty: off).
	MetricsAddr string
	// OTLP is where traces go (empty endpoint: no tracing).
	OTLP telemetry.Options
	// StickyCache is how many workflows the worker keeps in memory.
	StickyCache int
	// TemporalAddress is the Temporal frontend the process dials; its port,
	// with every other port of the control plane this process knows, is
	// walled off from local build steps (executor.Wall). StepDeny are more
	// ports of this machine steps must not reach (a production registry).
	TemporalAddress string
	StepDeny        []int
}

// DefaultStickyCache is how many workflows a worker keeps in memory between
// their tasks (~61 KB each, waiting for approval: worker's
// BenchmarkCachedWaitingRun). A run waiting days for approval needs none:
// when it is not cached it costs the worker no memory
// (BenchmarkUncachedWaitingRuns) and its next task replays its history
// first (~1.4 ms: workflows' BenchmarkReplay), so the cache only has to
// hold the runs that are busy, not every run that waits.
const DefaultStickyCache = 200

// App is one process's assembled parts.
type App struct {
	opts        Options
	log         *slog.Logger
	dir         string
	cfg         *config.Config
	metrics     *metrics.Metrics
	sdkMetrics  client.MetricsHandler
	tracing     *telemetry.Tracing
	devToken    string
	metricsAddr string
	records     *records.Store
	logBucket   *blob.Bucket
	closers     []func()
	// controlPorts are the embedded Temporal's, when this process runs it.
	controlPorts []int
}

// Open prepares the data dir, reads the configuration and starts the
// process's metrics and tracing. Close undoes what Open and the Start
// methods started, newest first.
func Open(opts Options, log *slog.Logger) (*App, error) {
	a := &App{opts: opts, log: log}
	var err error
	if a.dir, err = prepareDataDir(opts.DataDir, opts.StepUser); err != nil {
		return nil, err
	}
	if a.cfg, err = loadConfig(opts.ConfigFile); err != nil {
		return nil, err
	}
	if opts.Dev && len(a.cfg.APITokens) == 0 && a.cfg.OIDC == nil {
		// single-user dev mode: the CLI on this machine reads the token
		// from the data dir, which only this user can open
		if a.devToken, err = devToken(a.dir); err != nil {
			return nil, err
		}
	}
	if err := a.startTelemetry(); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.openRecords(); err != nil {
		a.Close()
		return nil, err
	}
	if a.opts.Logs != "" {
		if a.logBucket, err = logstore.OpenBucket(context.Background(), a.opts.Logs); err != nil {
			a.Close()
			return nil, fmt.Errorf("--logs: %w", err)
		}
		a.OnClose(func() { a.logBucket.Close() })
	}
	return a, nil
}

// openRecords opens the records database; one that cannot be reached
// stops the process at start, named.
func (a *App) openRecords() error {
	dsn := a.opts.Records
	if dsn == "" {
		dsn = worker.RecordsFile(a.dir)
	}
	var err error
	if a.records, err = records.Open(context.Background(), dsn, os.Getenv("SLUICE_RECORDS_DB_PASSWORD")); err != nil {
		return fmt.Errorf("--records: %w", err)
	}
	a.OnClose(func() { a.records.Close() })
	return nil
}

// DataDir is the data dir's absolute path.
func (a *App) DataDir() string { return a.dir }

// Metrics are the process's Prometheus metrics; the Temporal client gets
// their SDK handler.
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

// SDKMetrics records the Temporal client's metrics in Metrics' registry.
func (a *App) SDKMetrics() client.MetricsHandler { return a.sdkMetrics }

// Tracing is the process's tracer (a no-op without --otlp-endpoint).
func (a *App) Tracing() *telemetry.Tracing { return a.tracing }

// SetUIURL replaces the Web UI's address (the dev server knows its own
// only once it has started).
func (a *App) SetUIURL(u string) { a.opts.UIURL = u }

// Close stops what the App started, newest first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// OnClose adds f to what Close runs (newest first).
func (a *App) OnClose(f func()) { a.closers = append(a.closers, f) }

// loadConfig reads file; without one Sluice serves no webhooks and no chat.
func loadConfig(file string) (*config.Config, error) {
	if file == "" {
		return &config.Config{}, nil
	}
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}
