package main

import (
	"fmt"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/app"
	"github.com/sluice-cd/sluice/devserver"
)

func newTemporalCmd(g *globals) *cobra.Command {
	var t app.TemporalServices
	cmd := &cobra.Command{
		Use:   "temporal --services frontend,history,matching,worker --temporal-db postgres://… --service-ports history=P,matching=P,worker=P [--history-shards 4]",
		Short: "Run some of a Temporal cluster's services (the server `sluice dev` embeds), for a cluster of several processes or machines over PostgreSQL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := g.logger()
			t.LogLevel = slogLevel(g.logLevel, false)
			srv, err := app.StartTemporalServices(t, log)
			if err != nil {
				return err
			}
			defer srv.Stop()
			fmt.Fprintf(g.stdout, "Temporal %s running (frontend %s, %d history shards)\n", strings.Join(t.Services, ", "), srv.Address, t.HistoryShards)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&t.Services, "services", devserver.AllServices, "the services this process runs: frontend, history, matching, worker")
	f.StringVar(&t.Host, "temporal-host", "127.0.0.1", "address the services bind and announce (one the other processes reach)")
	f.IntVar(&t.FrontendPort, "temporal-port", 7233, "the frontend's port, the same in every process")
	f.StringSliceVar(&t.ServicePorts, "service-ports", nil, "SERVICE=PORT of history, matching and worker, the same in every process")
	f.IntVar(&t.HistoryShards, "history-shards", 4, "shards of the history, the same in every process and for the life of the database")
	f.StringVar(&t.Postgres, "temporal-db", "", "PostgreSQL database of the cluster, postgres://USER@HOST:PORT/DATABASE (password in SLUICE_TEMPORAL_DB_PASSWORD; schema made when missing)")
	f.StringVar(&t.Namespace, "namespace-name", "default", "the namespace to make when missing")
	f.DurationVar(&t.Retention, "temporal-retention", 0, "how long the namespace keeps a closed run (default 24h)")
	return cmd
}
