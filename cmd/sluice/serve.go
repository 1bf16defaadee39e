package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/app"
)

// serveFlags are the flags of dev, worker and server; app assembles what
// they ask for.
type serveFlags struct{ opts app.Options }

// open assembles the process; g's Temporal client then gets its metrics
// and tracing.
func (s *serveFlags) open(g *globals) (*app.App, error) {
	s.opts.Service, s.opts.UIURL, s.opts.TemporalAddress = "sluice-"+g.command, g.uiURL, g.temporalAddress
	a, err := app.Open(s.opts, g.logger())
	if err != nil {
		return nil, err
	}
	g.sdkMetrics, g.tracing = a.SDKMetrics(), a.Tracing()
	return a, nil
}

func newDevCmd(g *globals) *cobra.Command {
	s := serveFlags{opts: app.Options{Dev: true}}
	var t app.DevTemporal
	var runWorker, archive bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run an embedded Temporal server with its Web UI, a worker and the HTTP server in one process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := s.open(g)
			if err != nil {
				return err
			}
			defer a.Close()
			t.Namespace, t.LogLevel, t.NoArchive = g.namespace, slogLevel(g.logLevel, true), !archive
			srv, err := a.StartTemporal(t)
			if err != nil {
				return err
			}
			g.temporalAddress = srv.Address
			if t.Auth {
				// (its certificate names localhost, whatever address it binds)
				g.conn = temporalConn{caFile: srv.CAFile, apiKeyFile: srv.APIKeyFile, serverName: "localhost"}
			}
			c, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			a.OnClose(c.Close) // after the worker and the HTTP server stop
			if runWorker {
				w, err := a.NewWorker(cmd.Context(), c)
				if err != nil {
					return err
				}
				if err := w.Start(); err != nil {
					return fmt.Errorf("start worker: %w", err)
				}
				a.OnClose(w.Stop)
			}
			addr, err := a.StartHTTP(c)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Sluice dev is running\n  Temporal  %s (namespace %s, database %s)\n", srv.Address, srv.Namespace, srv.Database)
			if t.Auth {
				fmt.Fprintf(g.stdout, "            TLS and API keys: --temporal-tls-ca %s --temporal-api-key-file %s\n", srv.CAFile, srv.APIKeyFile)
			}
			signIn := "an API token of the configuration"
			if tf := filepath.Join(a.DataDir(), app.DevTokenFile); fileExists(tf) {
				signIn = "the token in " + tf
			}
			fmt.Fprintf(g.stdout, "  Web UI    %s\n  Console   http://%s/ (sign in with %s)\n  HTTP API  http://%s\n  Data      %s\n  Worker    %v\n",
				orNone(srv.UIAddress), addr, signIn, addr, a.DataDir(), runWorker)
			if m := a.MetricsAddr(); m != "" {
				fmt.Fprintf(g.stdout, "  Metrics   http://%s/metrics\n", m)
			}
			waitForSignal(cmd.Context())
			return nil
		},
	}
	s.addData(cmd)
	s.addHTTP(cmd)
	s.addPlatform(cmd)
	f := cmd.Flags()
	f.IntVar(&t.Port, "temporal-port", 7233, "port of the embedded Temporal frontend")
	f.StringVar(&t.Host, "temporal-host", "127.0.0.1", "address the embedded Temporal binds (another machine's or a pod's workers need one they can reach; add --temporal-auth so only they get in)")
	f.BoolVar(&t.Auth, "temporal-auth", false, "the embedded Temporal speaks TLS and refuses every client without an API key signed by the data dir's key (this process and workers use DATA/"+app.TemporalAPIKeyFile+"; the Web UI only reads)")
	f.IntVar(&t.UIPort, "ui-port", 8233, "port of the Temporal Web UI (-1 disables it)")
	f.DurationVar(&t.Retention, "temporal-retention", 0, "how long Temporal keeps a closed run's history (default 24h; Sluice's records keep what happened for as long as --records-retention)")
	f.BoolVar(&archive, "temporal-archive", true, "archive a closed run's history in DATA_DIR/temporal-archive before Temporal deletes it, and read it from there after")
	f.BoolVar(&runWorker, "worker", true, "run a worker in this process (false: run `sluice worker` separately)")
	f.StringVar(&t.Postgres, "temporal-db", "", "keep the embedded Temporal's state in PostgreSQL, postgres://USER@HOST:PORT/DATABASE (password in SLUICE_TEMPORAL_DB_PASSWORD; databases and schema made when missing); default: SQLite in the data dir")
	return cmd
}

// newServeCmd is `worker` (with a worker, no HTTP) or `server` (HTTP only).
func newServeCmd(g *globals, use, short string, runWorker bool) *cobra.Command {
	var s serveFlags
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := s.open(g)
			if err != nil {
				return err
			}
			defer a.Close()
			c, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if runWorker {
				w, err := a.NewWorker(cmd.Context(), c)
				if err != nil {
					return err
				}
				g.logger().Info("worker started", "temporal", g.temporalAddress, "data_dir", a.DataDir())
				return w.Run(interruptCh(cmd.Context()))
			}
			addr, err := a.StartHTTP(c)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Sluice server listening on http://%s\n", addr)
			waitForSignal(cmd.Context())
			return nil
		},
	}
	s.addData(cmd)
	if runWorker {
		s.addPlatform(cmd)
	} else {
		s.addHTTP(cmd)
	}
	return cmd
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
