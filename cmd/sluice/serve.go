package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/chat"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/devserver"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitstatus"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/metrics"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/telemetry"
	"github.com/sluice-cd/sluice/webhooks"
	"github.com/sluice-cd/sluice/worker"
)

// serveFlags are shared by dev, worker and server.
type serveFlags struct {
	uiURL      string
	configFile string
	cfg        *config.Config
	dataDir    string
	httpPort   int
	httpHost   string
	platform   activities.Platform
	// devToken is the API token `sluice dev` made when the configuration has none.
	devToken string
	// stepUser is --step-user; stepHome --step-home.
	stepUser, stepHome string
	// decisionKey is --decision-key.
	decisionKey string
	// signingKey is --signing-key; signingPasswordFile --signing-password-file.
	signingKey, signingPasswordFile string
	// metricsAddr is --metrics-addr; metrics what it serves.
	metricsAddr string
	metrics     *metrics.Metrics
	// otlp is --otlp-endpoint and --otlp-insecure; tracing what they made.
	otlp    telemetry.Options
	tracing *telemetry.Tracing
	// stickyCache is --sticky-cache.
	stickyCache int
	// inCluster is --in-cluster; registryEndpoints --registry-endpoint.
	inCluster         bool
	registryEndpoints []string
}

// DefaultStickyCache is how many workflows a worker keeps in memory between
// their tasks (~61 KB each, waiting for approval: worker's
// BenchmarkCachedWaitingRun). A run waiting days for approval needs none:
// when it is not cached it costs the worker no memory
// (BenchmarkUncachedWaitingRuns) and its next task replays its history
// first (~1.4 ms: workflows' BenchmarkReplay), so the cache only has to
// hold the runs that are busy, not every run that waits.
const DefaultStickyCache = 200

// addMetrics adds --metrics-addr and the tracing flags.
func (s *serveFlags) addMetrics(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.metricsAddr, "metrics-addr", "", "serve Prometheus metrics (Sluice's and the Temporal SDK's) on this host:port at /metrics; empty: off")
	cmd.Flags().StringVar(&s.otlp.Endpoint, "otlp-endpoint", "", "send OpenTelemetry traces (a run is one trace, webhook to production) by OTLP/gRPC to this host:port; empty: no tracing")
	cmd.Flags().BoolVar(&s.otlp.Insecure, "otlp-insecure", false, "send traces without TLS (a collector on loopback or beside the pod)")
}

// startMetrics makes the process's metrics and tracing, hands the SDK's
// metrics handler and tracing interceptor to the Temporal client g dials
// next, and serves /metrics when asked to. The returned func stops both.
func (s *serveFlags) startMetrics(g *globals, log *slog.Logger) (string, func(), error) {
	s.metrics = metrics.New()
	g.metrics = s.metrics
	s.otlp.Service = "sluice-" + g.command
	var err error
	if s.tracing, err = telemetry.Start(context.Background(), s.otlp); err != nil {
		return "", nil, err
	}
	g.tracing = s.tracing
	if s.metricsAddr == "" {
		return "", s.tracing.Shutdown, nil
	}
	ln, err := net.Listen("tcp", s.metricsAddr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics-addr %s: %w", s.metricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	// the probe of a worker, which serves nothing else
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	return ln.Addr().String(), func() { shutdown(hs); s.tracing.Shutdown() }, nil
}

// imageSigner loads (or makes, on first use) the cosign key pair that signs
// baked images; its public key verifies them before promote, deploy and
// production. The password comes from SLUICE_SIGNING_PASSWORD or
// --signing-password-file, never from a flag's value.
func (s *serveFlags) imageSigner(dir string) (*image.Signer, error) {
	path := s.signingKey
	if path == "" {
		path = filepath.Join(dir, "signing.key")
	}
	password := []byte(os.Getenv("SLUICE_SIGNING_PASSWORD"))
	if s.signingPasswordFile != "" {
		b, err := os.ReadFile(s.signingPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--signing-password-file: %w", err)
		}
		password = bytes.TrimRight(b, "\r\n")
	}
	signer, err := image.EnsureKeys(path, password)
	if err != nil {
		return nil, fmt.Errorf("image signing key %s: %w", path, err)
	}
	if len(password) == 0 {
		slog.Warn("the image signing key is not protected by a password: set SLUICE_SIGNING_PASSWORD or --signing-password-file", "key", path)
	}
	return signer, nil
}

// signer loads the decision key (see runs.LoadDecisionKey).
func (s *serveFlags) signer(dir string) (ed25519.PrivateKey, error) {
	path := s.decisionKey
	if path == "" {
		path = filepath.Join(dir, "decision-key")
	}
	return runs.LoadDecisionKey(path)
}

func (s *serveFlags) addData(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.dataDir, "data-dir", ".sluice", "directory for the Temporal database, workspaces and logs")
	cmd.Flags().StringVar(&s.configFile, "config", "", "server configuration: repositories, webhook secrets, Slack, approver groups")
	cmd.Flags().StringVar(&s.stepUser, "step-user", "auto", "account local build steps run as: auto (UID 65532 when the worker is root), none (the worker's own: steps can read its secrets), or UID[:GID]")
	cmd.Flags().StringVar(&s.decisionKey, "decision-key", "", "key with which the server vouches for approvers, shared by server and workers (default DATA_DIR/decision-key, made when missing)")
	cmd.Flags().StringVar(&s.stepHome, "step-home", "", "HOME of local build steps, where their caches live (default DATA_DIR/workspaces/.home)")
	cmd.Flags().IntVar(&s.stickyCache, "sticky-cache", DefaultStickyCache, "workflows the worker keeps in memory between their tasks (others replay their history when they next run)")
}

// loadConfig reads --config; without one Sluice serves no webhooks and no chat.
func (s *serveFlags) loadConfig() error {
	s.cfg = &config.Config{}
	if s.configFile == "" {
		return nil
	}
	cfg, err := config.Load(s.configFile)
	if err != nil {
		return err
	}
	s.cfg = cfg
	return nil
}

// connect prepares the data dir and configuration of `worker` and `server`
// and dials Temporal. The caller closes the client.
func (s *serveFlags) connect(ctx context.Context, g *globals) (string, client.Client, error) {
	dir, err := s.absDataDir()
	if err != nil {
		return "", nil, err
	}
	if err := s.loadConfig(); err != nil {
		return "", nil, err
	}
	s.uiURL = g.uiURL
	c, err := g.dial(ctx)
	return dir, c, err
}

func (s *serveFlags) runsClient(c client.Client) *runs.Client {
	return &runs.Client{Temporal: c, Groups: s.cfg.ApproverGroups}
}

func (s *serveFlags) workerConfig(c client.Client, dir string) (worker.Config, error) {
	if s.stickyCache < 1 {
		return worker.Config{}, fmt.Errorf("--sticky-cache %d: must be at least 1", s.stickyCache)
	}
	// process-wide in the SDK; every worker of this process shares it
	sdkworker.SetStickyWorkflowCacheSize(s.stickyCache)
	statuses := map[string]gitstatus.Reporter{}
	for _, r := range s.cfg.Repositories {
		if r.Token() == "" {
			continue
		}
		rep, err := gitstatus.New(r.Provider, r.API, r.Token())
		if err != nil {
			return worker.Config{}, fmt.Errorf("commit statuses for %s: %w", r.Name, err)
		}
		statuses[r.Name] = rep
	}
	user, err := executor.ParseStepUser(s.stepUser)
	if err != nil {
		return worker.Config{}, err
	}
	endpoints, err := image.ParseEndpoints(s.registryEndpoints)
	if err != nil {
		return worker.Config{}, fmt.Errorf("--registry-endpoint: %w", err)
	}
	endpoints.Use()
	if user == nil {
		slog.Warn("build steps run as this worker's own user and can read everything it can (its environment, secret files, logs); run the worker as root to have them run as an unprivileged user", "uid", os.Geteuid())
	}
	key, err := s.signer(dir)
	if err != nil {
		return worker.Config{}, err
	}
	platform := s.platform
	if platform.VulnDB != "" {
		// read it once now, so that a wrong path fails at startup, not at
		// the first promote
		db, err := image.CachedVulnDB(platform.VulnDB)
		if err != nil {
			return worker.Config{}, fmt.Errorf("--vulnerability-db: %w", err)
		}
		slog.Info("vulnerability database", "dir", platform.VulnDB, "entries", db.Entries)
	}
	if platform.Registry != "" || platform.BuildKitAddr != "" {
		if platform.Signer, err = s.imageSigner(dir); err != nil {
			return worker.Config{}, err
		}
		platform.Verifier = platform.Signer.Verifier()
	}
	return worker.Config{Metrics: s.metrics, DataDir: dir, Platform: platform, Secrets: s.cfg.Secrets(), Runs: s.runsClient(c),
		Chat: s.chat(), Statuses: statuses, UIURL: s.uiURL, StepUser: user, StepHome: s.stepHome,
		ApproverGroups: s.cfg.ApproverGroups, DecisionKey: key.Public().(ed25519.PublicKey)}, nil
}

// newWorker builds the worker of `dev` and `worker`. With pools in the
// configuration it also keeps them (when elected) until ctx ends.
func (s *serveFlags) newWorker(ctx context.Context, c client.Client, dir string, log *slog.Logger) (sdkworker.Worker, error) {
	wc, err := s.workerConfig(c, dir)
	if err != nil {
		return nil, err
	}
	wc.Log = log
	pools, err := loadPools(s.cfg, s.platform.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if pools != nil {
		if s.metrics != nil {
			pools.observe(ctx, s.metrics)
		}
		wc.Pools = pools.executors()
		pools.keep(ctx, log)
	}
	if s.inCluster && wc.Platform.Kubeconfig != "" {
		return nil, fmt.Errorf("--in-cluster and --kubeconfig %s (or KUBECONFIG): choose one", wc.Platform.Kubeconfig)
	}
	if k := wc.Platform.Kubeconfig; (k != "" || s.inCluster) && wc.Platform.Cluster == nil {
		wc.Platform.Clusters = &environments.Clusters{Kubeconfig: k, InCluster: s.inCluster}
		if wc.Platform.Cluster, err = wc.Platform.Clusters.Context(""); err != nil {
			return nil, err
		}
		sweep(ctx, c, wc.Platform.Cluster, log)
		if ch := s.cfg.Chaos; ch != nil && ch.NodePower != nil {
			wc.Platform.NodePower = &chaos.CommandPower{StopCommand: ch.NodePower.Stop, StartCommand: ch.NodePower.Start}
		}
		cs := &chaos.Sweeper{Client: wc.Platform.Cluster.Client, Power: wc.Platform.NodePower, Log: log}
		go cs.Run(ctx, ChaosSweepInterval)
	}
	return worker.New(c, wc)
}

// ChaosSweepInterval is how often a worker removes chaos faults past their
// expiry: the bound on how long a fault outlives a terminated experiment
// beyond its expiry.
const ChaosSweepInterval = 10 * time.Second

// SweepInterval is how often a worker looks for test environments whose
// run was lost.
const SweepInterval = time.Minute

// sweep deletes expired test environments whose run Temporal no longer
// runs, every SweepInterval until ctx ends. Every worker sweeps; deleting
// a namespace twice is harmless.
func sweep(ctx context.Context, c client.Client, cluster *environments.Cluster, log *slog.Logger) {
	s := &environments.Sweeper{Cluster: cluster, Log: log, Running: func(ctx context.Context, wf, run string) (bool, error) {
		return runIsGoing(ctx, c, wf, run)
	}}
	go s.Run(ctx, SweepInterval)
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

// chat is the Slack adapter, the incoming-webhook notifier, or nil.
func (s *serveFlags) chat() activities.Chat {
	sl := s.cfg.Slack
	switch {
	case sl == nil:
		return nil
	case sl.BotTokenValue() != "":
		return s.slack()
	case sl.IncomingWebhookURL() != "":
		return &chat.Webhook{URL: sl.IncomingWebhookURL()}
	}
	return nil
}

func (s *serveFlags) slack() *chat.Slack {
	sl := s.cfg.Slack
	return chat.NewSlack(sl.BotTokenValue(), sl.APIURL, sl.Channel, s.uiURL)
}

func (s *serveFlags) addHTTP(cmd *cobra.Command) {
	cmd.Flags().IntVar(&s.httpPort, "http-port", 8080, "port of the HTTP server (API, webhooks)")
	cmd.Flags().StringVar(&s.httpHost, "http-host", "127.0.0.1", "address the HTTP server binds")
}

func (s *serveFlags) addPlatform(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.platform.BuildKitAddr, "buildkit-addr", "", "BuildKit daemon address for the bake phase (unix:///run/buildkit/buildkitd.sock)")
	f.StringVar(&s.platform.Registry, "registry", "", "image registry for bake and promote (127.0.0.1:5000)")
	f.StringVar(&s.platform.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig for deploy, integration and production")
	f.BoolVar(&s.inCluster, "in-cluster", false, "deploy, integration and production into the cluster this worker's pod runs in, with its service account (deploy/kubernetes/deployer grants the rights); instead of --kubeconfig")
	f.StringSliceVar(&s.registryEndpoints, "registry-endpoint", nil, "REGISTRY=HOST:PORT: reach the registry images name REGISTRY at HOST:PORT (names unchanged), e.g. a node-local 127.0.0.1:5000 from a pod; repeat or comma-separate")
	f.StringVar(&s.signingKey, "signing-key", "", "cosign private key that signs baked images (default DATA_DIR/signing.key, made when missing; its public key beside it as .pub)")
	f.StringVar(&s.signingPasswordFile, "signing-password-file", "", "file holding the signing key's password (else SLUICE_SIGNING_PASSWORD)")
	f.StringVar(&s.platform.VulnDB, "vulnerability-db", "", "directory of an OSV vulnerability database (entry files, osv.dev's per-ecosystem all.zip) for promote.scan; read again when a file in it changes")
}

func (s *serveFlags) absDataDir() (string, error) {
	abs, err := filepath.Abs(s.dataDir)
	if err != nil {
		return "", err
	}
	// The data dir holds the Temporal database, workspaces, logs and the
	// API token: nothing in it is for other users of the machine.
	syscall.Umask(0o077)
	// Steps run as the step user must pass through it to their workspace:
	// others may enter (x) but not list it; everything inside is 0600/0700.
	mode := os.FileMode(0o700)
	if u, err := executor.ParseStepUser(s.stepUser); err == nil && u != nil {
		mode = 0o711
	}
	if err := os.MkdirAll(abs, mode); err != nil {
		return "", fmt.Errorf("data dir %s: %w", abs, err)
	}
	if err := os.Chmod(abs, mode); err != nil {
		return "", fmt.Errorf("data dir %s: %w", abs, err)
	}
	return abs, nil
}

func newDevCmd(g *globals) *cobra.Command {
	var s serveFlags
	var temporalPort, uiPort int
	var runWorker bool
	var temporalDB, temporalHost string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run an embedded Temporal server with its Web UI, a worker and the HTTP server in one process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := s.absDataDir()
			if err != nil {
				return err
			}
			if err := s.loadConfig(); err != nil {
				return err
			}
			s.uiURL = g.uiURL
			if len(s.cfg.APITokens) == 0 {
				// single-user dev mode: the CLI on this machine reads the token
				// from the data dir, which only this user can open
				if s.devToken, err = devToken(dir); err != nil {
					return err
				}
			}
			log := g.logger()
			maddr, stopMetrics, err := s.startMetrics(g, log)
			if err != nil {
				return err
			}
			defer stopMetrics()
			opts := devserver.Options{
				IP: temporalHost, FrontendPort: temporalPort, UIPort: uiPort, DatabaseFile: filepath.Join(dir, "temporal.db"),
				Namespace: g.namespace, Logger: log, LogLevel: slogLevel(g.logLevel, true),
			}
			database := opts.DatabaseFile
			if temporalDB != "" {
				if opts.Postgres, err = devserver.ParsePostgresURL(temporalDB, os.Getenv("SLUICE_TEMPORAL_DB_PASSWORD")); err != nil {
					return err
				}
				database = opts.Postgres.String()
			}
			srv, err := devserver.Start(opts)
			if err != nil {
				return err
			}
			defer srv.Stop()
			g.temporalAddress = srv.Address
			if srv.UIAddress != "" {
				s.uiURL = srv.UIAddress
			}
			c, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			var w sdkworker.Worker
			if runWorker {
				if w, err = s.newWorker(cmd.Context(), c, dir, log); err != nil {
					return err
				}
				if err := w.Start(); err != nil {
					return fmt.Errorf("start worker: %w", err)
				}
				defer w.Stop()
			}
			hs, addr, err := s.startHTTP(c, dir, log)
			if err != nil {
				return err
			}
			defer shutdown(hs)
			fmt.Fprintf(g.stdout, "Sluice dev is running\n  Temporal  %s (namespace %s, database %s)\n  Web UI    %s\n  HTTP API  http://%s\n  Data      %s\n  Worker    %v\n",
				srv.Address, srv.Namespace, database, orNone(srv.UIAddress), addr, dir, runWorker)
			if maddr != "" {
				fmt.Fprintf(g.stdout, "  Metrics   http://%s/metrics\n", maddr)
			}
			waitForSignal(cmd.Context())
			return nil
		},
	}
	s.addData(cmd)
	s.addHTTP(cmd)
	s.addPlatform(cmd)
	s.addMetrics(cmd)
	cmd.Flags().IntVar(&temporalPort, "temporal-port", 7233, "port of the embedded Temporal frontend")
	cmd.Flags().StringVar(&temporalHost, "temporal-host", "127.0.0.1", "address the embedded Temporal binds (another machine's or a pod's workers need one they can reach; nothing authenticates them)")
	cmd.Flags().IntVar(&uiPort, "ui-port", 8233, "port of the Temporal Web UI (-1 disables it)")
	cmd.Flags().BoolVar(&runWorker, "worker", true, "run a worker in this process (false: run `sluice worker` separately)")
	cmd.Flags().StringVar(&temporalDB, "temporal-db", "", "keep the embedded Temporal's state in PostgreSQL, postgres://USER@HOST:PORT/DATABASE (password in SLUICE_TEMPORAL_DB_PASSWORD; databases and schema made when missing); default: SQLite in the data dir")
	return cmd
}

func newWorkerCmd(g *globals) *cobra.Command {
	var s serveFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker that executes pipeline workflows and their phases",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, stopMetrics, err := s.startMetrics(g, g.logger())
			if err != nil {
				return err
			}
			defer stopMetrics()
			dir, c, err := s.connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			w, err := s.newWorker(cmd.Context(), c, dir, g.logger())
			if err != nil {
				return err
			}
			g.logger().Info("worker started", "temporal", g.temporalAddress, "data_dir", dir)
			return w.Run(interruptCh(cmd.Context()))
		},
	}
	s.addData(cmd)
	s.addPlatform(cmd)
	s.addMetrics(cmd)
	return cmd
}

func newServerCmd(g *globals) *cobra.Command {
	var s serveFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the HTTP server (API, logs, webhooks) against a Temporal cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, stopMetrics, err := s.startMetrics(g, g.logger())
			if err != nil {
				return err
			}
			defer stopMetrics()
			dir, c, err := s.connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer c.Close()
			hs, addr, err := s.startHTTP(c, dir, g.logger())
			if err != nil {
				return err
			}
			defer shutdown(hs)
			fmt.Fprintf(g.stdout, "Sluice server listening on http://%s\n", addr)
			waitForSignal(cmd.Context())
			return nil
		},
	}
	s.addData(cmd)
	s.addHTTP(cmd)
	s.addMetrics(cmd)
	return cmd
}

func (s *serveFlags) startHTTP(c client.Client, dir string, log *slog.Logger) (*http.Server, string, error) {
	logs, err := logstore.New(worker.LogDir(dir), nil)
	if err != nil {
		return nil, "", err
	}
	rc := s.runsClient(c)
	if rc.Signer, err = s.signer(dir); err != nil {
		return nil, "", err
	}
	api := httpapi.New(rc, logs, log)
	api.Tokens = map[string]httpapi.Client{}
	for value, t := range s.cfg.Tokens() {
		api.Tokens[value] = httpapi.Client{Name: t.Name, User: t.User}
	}
	if s.devToken != "" {
		// single-user dev mode: whoever can read the data dir names the decider
		api.Tokens[s.devToken] = httpapi.Client{Name: "dev", TrustAs: true}
	}
	if len(s.cfg.Repositories) > 0 {
		(&webhooks.Receiver{Config: s.cfg, Start: &runs.PushStarter{Client: rc, Config: s.cfg}, Log: log, Metrics: s.metrics}).Register(api.Mux)
	}
	if am := s.cfg.Alertmanager; am != nil {
		(&webhooks.Alertmanager{Token: am.TokenValue(), Deliver: rc, Log: log}).Register(api.Mux)
	}
	if sl := s.cfg.Slack; sl != nil && sl.SigningSecretValue() != "" {
		(&chat.Interactions{SigningSecret: sl.SigningSecretValue(), Runs: rc, Slack: s.slack(), Log: log}).Register(api.Mux)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.httpHost, strconv.Itoa(s.httpPort)))
	if err != nil {
		return nil, "", fmt.Errorf("HTTP port %d: %w (choose another with --http-port)", s.httpPort, err)
	}
	hs := httpapi.NewHTTPServer(s.tracing.Handler(api))
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()
	return hs, ln.Addr().String(), nil
}

// devToken returns the API token of a dev data dir, creating it once.
func devToken(dir string) (string, error) {
	file := filepath.Join(dir, DevTokenFile)
	if b, err := os.ReadFile(file); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := hex.EncodeToString(raw)
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write API token: %w", err)
	}
	return token, nil
}

// DevTokenFile is where `sluice dev` keeps its API token in the data dir.
const DevTokenFile = "api-token"

func shutdown(hs *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)
}

func interruptCh(ctx context.Context) <-chan any {
	ch := make(chan any, 1)
	go func() {
		waitForSignal(ctx)
		ch <- struct{}{}
	}()
	return ch
}

func waitForSignal(ctx context.Context) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

func orNone(s string) string {
	if s == "" {
		return "(disabled)"
	}
	return s
}
