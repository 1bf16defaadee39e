package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/app"
)

func (s *serveFlags) addData(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.opts.DataDir, "data-dir", ".sluice", "directory for the Temporal database, workspaces and logs")
	f.StringVar(&s.opts.ConfigFile, "config", "", "server configuration: repositories, webhook secrets, Slack, approver groups")
	f.StringVar(&s.opts.StepUser, "step-user", "auto", "account local build steps run as: auto (UID 65532 when the worker is root), none (the worker's own: steps can read its secrets), or UID[:GID]")
	f.StringVar(&s.opts.DecisionKey, "decision-key", "", "key with which the server vouches for approvers, shared by server and workers (default DATA_DIR/decision-key, made when missing)")
	f.IntSliceVar(&s.opts.StepDeny, "step-deny", nil, "more TCP ports of this machine local build steps must not reach (a production registry's); Temporal's, the HTTP API's, the metrics', the registry's and BuildKit's are walled off already (root and iptables)")
	f.StringVar(&s.opts.StepHome, "step-home", "", "HOME of local build steps, where their caches live (default DATA_DIR/workspaces/.home)")
	f.StringVar(&s.opts.Records, "records", "", "Sluice's records of runs, decisions and accepted pushes, kept beyond Temporal's retention: a postgres://USER@HOST:PORT/DATABASE URL (password in SLUICE_RECORDS_DB_PASSWORD), shared by every server and worker, or a SQLite file (default DATA_DIR/records.db)")
	f.DurationVar(&s.opts.RecordsRetention, "records-retention", 0, "delete the records of runs that finished longer ago than this (the server does, hourly); 0 keeps them forever")
	f.StringVar(&s.opts.Logs, "logs", "", "object store run logs are shipped to as they are written and read from, shared by every server and worker: file:///DIR or s3://BUCKET?region=R&endpoint=URL&use_path_style=true (credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); empty: each data dir keeps its own logs and a server serves its own")
	f.DurationVar(&s.opts.LogsRetention, "logs-retention", 0, "delete run logs in the --logs store shipped longer ago than this (the server does, hourly); 0 keeps them forever")
	f.DurationVar(&s.opts.ConsoleSession, "console-session", 12*time.Hour, "how long a sign-in to the web console (at / on the HTTP port) lasts")
	f.IntVar(&s.opts.StickyCache, "sticky-cache", app.DefaultStickyCache, "workflows the worker keeps in memory between their tasks (others replay their history when they next run)")
	f.StringVar(&s.opts.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics (Sluice's and the Temporal SDK's) on this host:port at /metrics; empty: off")
	f.StringVar(&s.opts.OTLP.Endpoint, "otlp-endpoint", "", "send OpenTelemetry traces (a run is one trace, webhook to production) by OTLP/gRPC to this host:port; empty: no tracing")
	f.BoolVar(&s.opts.OTLP.Insecure, "otlp-insecure", false, "send traces without TLS (a collector on loopback or beside the pod)")
}

func (s *serveFlags) addHTTP(cmd *cobra.Command) {
	cmd.Flags().IntVar(&s.opts.HTTPPort, "http-port", 8080, "port of the HTTP server (API, webhooks)")
	cmd.Flags().StringVar(&s.opts.HTTPHost, "http-host", "127.0.0.1", "address the HTTP server binds")
}

func (s *serveFlags) addPlatform(cmd *cobra.Command) {
	f, p := cmd.Flags(), &s.opts.Platform
	f.StringVar(&p.BuildKitAddr, "buildkit-addr", "", "BuildKit daemon address for the bake phase (unix:///run/buildkit/buildkitd.sock)")
	f.StringVar(&p.Registry, "registry", "", "image registry for bake and promote (127.0.0.1:5000)")
	f.StringVar(&p.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig for deploy, integration and production")
	f.BoolVar(&s.opts.InCluster, "in-cluster", false, "deploy, integration and production into the cluster this worker's pod runs in, with its service account (deploy/kubernetes/deployer grants the rights); instead of --kubeconfig")
	f.StringSliceVar(&s.opts.RegistryEndpoints, "registry-endpoint", nil, "REGISTRY=HOST:PORT: reach the registry images name REGISTRY at HOST:PORT (names unchanged), e.g. a node-local 127.0.0.1:5000 from a pod; repeat or comma-separate")
	f.StringVar(&s.opts.SigningKey, "signing-key", "", "cosign private key that signs baked images (default DATA_DIR/signing.key, made when missing; its public key beside it as .pub)")
	f.StringVar(&s.opts.SigningPasswordFile, "signing-password-file", "", "file holding the signing key's password (else SLUICE_SIGNING_PASSWORD)")
	f.StringVar(&p.VulnDB, "vulnerability-db", "", "directory of an OSV vulnerability database (entry files, osv.dev's per-ecosystem all.zip) for promote.scan; read again when a file in it changes")
}
