package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/sluice-cd/sluice/app"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/telemetry"
)

// globals are the flags every command shares.
type globals struct {
	temporalAddress string
	namespace       string
	output          string
	serverURL       string
	token           string
	tokenFile       string
	// credentials is the file `sluice login` keeps sign-ins in ("": in
	// the user's configuration directory).
	credentials string
	uiURL       string
	logLevel    string
	stdout      io.Writer
	stderr      io.Writer
	// sdkMetrics, when a server or worker made them, record the SDK's
	// metrics.
	sdkMetrics client.MetricsHandler
	// conn is how to reach an external Temporal (TLS, API key).
	conn temporalConn
	// tracing, when a server or worker traces, gives the client its interceptor.
	tracing *telemetry.Tracing
	// command is the name of the command running (dev, worker, …).
	command string
}

func newRoot() *cobra.Command {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice runs CI/CD pipelines as durable Temporal workflows",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			g.command = cmd.Name()
			if err := bindEnv(cmd); err != nil {
				return err
			}
			if g.output != "text" && g.output != "json" {
				return fmt.Errorf("--output must be text or json, not %q", g.output)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.temporalAddress, "temporal-address", "localhost:7233", "Temporal frontend host:port")
	pf.StringVar(&g.namespace, "namespace", "default", "Temporal namespace")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&g.serverURL, "server", "http://localhost:8080", "Sluice HTTP server, for logs")
	pf.StringVar(&g.token, "token", "", "API token of the Sluice HTTP server, or an ID token of its OpenID Connect provider (default: the sign-in of `sluice login`, else --token-file)")
	pf.StringVar(&g.credentials, "credentials", "", "file where `sluice login` keeps its sign-ins (default: sluice/credentials.json in the user's configuration directory)")
	pf.StringVar(&g.tokenFile, "token-file", filepath.Join(".sluice", app.DevTokenFile), "file holding the API token; `sluice dev` writes one to its data dir")
	pf.StringVar(&g.uiURL, "ui-url", "http://localhost:8233", "Temporal Web UI base URL, for links")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level of servers and workers: debug, info, warn, error")
	g.conn.addFlags(pf)
	root.AddCommand(
		newDevCmd(g), newServeCmd(g, "worker", "Run a worker that executes pipeline workflows and their phases", true),
		newServeCmd(g, "server", "Run the HTTP server (API, logs, webhooks) against a Temporal cluster", false),
		newRunCmd(g), newStatusCmd(g), newListCmd(g), newHistoryCmd(g), newAuditCmd(g), newDoraCmd(g), newKeysCmd(g), newLogsCmd(g),
		newDecideCmd(g, true), newDecideCmd(g, false), newCancelCmd(g), newRetryCmd(g),
		newLintCmd(g), newPoolCmd(g), newReleasesCmd(g), newRollbackCmd(g), newVerifyCmd(g), newChaosCmd(g), newAgentCmd(g), newScheduleCmd(g), newUnfreezeCmd(g),
		newLoginCmd(g), newLogoutCmd(g), newWhoamiCmd(g), newAdmissionCmd(g), newTemporalCmd(g),
	)
	return root
}

// bindEnv gives every flag not set on the command line the value of
// SLUICE_<FLAG> (dashes become underscores), if that is set.
func bindEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "SLUICE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

func (g *globals) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(g.stderr, &slog.HandlerOptions{Level: slogLevel(g.logLevel, false)}))
}

// dial connects to Temporal. The SDK's own logs go to stderr at warn and above.
func (g *globals) dial(ctx context.Context) (client.Client, error) {
	sdkLogger := slog.New(slog.NewJSONHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := client.Options{
		HostPort:  g.temporalAddress,
		Namespace: g.namespace,
		Logger:    sdklog.NewStructuredLogger(sdkLogger),
	}
	if g.sdkMetrics != nil {
		opts.MetricsHandler = g.sdkMetrics
	}
	if err := g.conn.apply(&opts); err != nil {
		return nil, err
	}
	var err error
	if opts.Interceptors, err = g.tracing.Interceptors(); err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w (start one with `sluice dev`, or set --temporal-address / SLUICE_TEMPORAL_ADDRESS)", g.temporalAddress, err)
	}
	return c, nil
}

func (g *globals) runsClient(ctx context.Context) (*runs.Client, func(), error) {
	c, err := g.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &runs.Client{Temporal: c}, c.Close, nil
}

// slogLevel parses a level name. For the embedded Temporal server (quiet)
// anything above debug is raised to warn: its info logs are noise to users.
func slogLevel(name string, quiet bool) slog.Level {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(name)); err != nil {
		lvl = slog.LevelInfo
	}
	if quiet && lvl > slog.LevelDebug && lvl < slog.LevelWarn {
		return slog.LevelWarn
	}
	return lvl
}

// withRef runs fn with the run the command's first argument names; it
// talks to the server, not Temporal.
func (g *globals) withRef(fn func(ctx context.Context, ref runs.Ref) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ref, err := runs.ParseRef(args[0])
		if err != nil {
			return err
		}
		return fn(cmd.Context(), ref)
	}
}
