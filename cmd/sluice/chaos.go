package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/workflows"
)

func newChaosCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run chaos experiments: inject faults into a workload, check it kept its SLO, always remove the faults",
	}
	cmd.AddCommand(newChaosRunCmd(g), newChaosStatusCmd(g), newChaosCancelCmd(g), newChaosLintCmd(g), newChaosScheduleCmd(g), newChaosUnscheduleCmd(g))
	return cmd
}

// withTemporal runs fn with a Temporal client for the command's lifetime.
func (g *globals) withTemporal(fn func(ctx context.Context, c client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := g.dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		return fn(cmd.Context(), c, args)
	}
}

// loadExperiment parses an experiment file; problems end the command with
// exit 1, each with its line.
func loadExperiment(path, target string) (*workflows.ChaosInput, error) {
	e, err := chaos.Load(path)
	if ps, ok := pipelines.AsProblems(err); ok {
		return nil, exitError{code: 1, msg: fmt.Sprintf("%v\n%d problem(s) in %s", err, len(ps), path)}
	}
	if err != nil {
		return nil, fmt.Errorf("read experiment: %w", err)
	}
	if target != "" {
		e.Namespace = target
	}
	return &workflows.ChaosInput{Experiment: *e}, nil
}

// checkExperiment refuses a bad file before anything connects to Temporal.
func checkExperiment(_ *cobra.Command, args []string) error {
	_, err := loadExperiment(args[0], "")
	return err
}

func newChaosLintCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE",
		Short: "Check an experiment file; exit 1 listing every problem with its line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := loadExperiment(args[0], "")
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, map[string]any{"valid": true, "experiment": in.Experiment})
			}
			fmt.Fprintf(g.stdout, "%s is valid: experiment %q, %d fault(s) against %s/%s\n", args[0], in.Experiment.Name, len(in.Experiment.Faults), in.Experiment.Namespace, in.Experiment.Service)
			return nil
		},
	}
}

func newChaosRunCmd(g *globals) *cobra.Command {
	var detach bool
	var target string
	cmd := &cobra.Command{
		Use:     "run FILE",
		Short:   "Start an experiment and follow its timeline; exit 0 when it passed, 1 when it failed",
		Args:    cobra.ExactArgs(1),
		PreRunE: checkExperiment,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			res, err := g.askChaos(ctx, args[0], httpapi.ChaosRequest{TargetNamespace: target})
			if err != nil {
				return err
			}
			if g.output == "text" {
				fmt.Fprintf(g.stdout, "experiment started: %s\n", res.ID)
			}
			if detach {
				if g.output == "json" {
					return printJSON(g.stdout, map[string]string{"id": res.ID})
				}
				return nil
			}
			return g.withTemporal(func(ctx context.Context, c client.Client, _ []string) error {
				return g.followChaos(ctx, c, res.ID)
			})(cmd, args)
		},
	}
	cmd.Flags().BoolVar(&detach, "detach", false, "start the experiment and return; follow it with `sluice chaos status`")
	cmd.Flags().StringVar(&target, "target-namespace", "", "run against this namespace instead of the file's target.namespace")
	return cmd
}

func newChaosStatusCmd(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show an experiment's timeline, error windows and verdict",
		Args:  cobra.ExactArgs(1),
		RunE: g.withTemporal(func(ctx context.Context, c client.Client, args []string) error {
			if follow {
				return g.followChaos(ctx, c, args[0])
			}
			st, err := chaosState(ctx, c, args[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, st)
			}
			for _, e := range st.Timeline {
				printChaosEvent(g, e)
			}
			printVerdict(g, st)
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the timeline until the experiment ends")
	return cmd
}

func newChaosCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel an experiment; its faults are removed before it closes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res httpapi.ChaosResponse
			if err := g.adminCall(cmd.Context(), http.MethodPost, "/api/v1/chaos/cancellations", httpapi.ChaosCancelRequest{ID: args[0]}, &res); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "cancellation of %s requested; its faults are removed before it closes\n", args[0])
			return nil
		},
	}
}

func chaosNotFound(id string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("no experiment %q (the ID `sluice chaos run` printed, like chaos/NAME/TIME)", id)
	}
	return err
}

// chaosState asks the experiment for its state.
func chaosState(ctx context.Context, c client.Client, id string) (workflows.ChaosState, error) {
	var st workflows.ChaosState
	v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryState)
	if err != nil {
		return st, chaosNotFound(id, err)
	}
	return st, v.Get(&st)
}

// followChaos prints the timeline as it grows and ends with the verdict.
func (g *globals) followChaos(ctx context.Context, c client.Client, id string) error {
	printed := 0
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := chaosState(ctx, c, id)
		if err != nil {
			return err
		}
		if g.output == "text" {
			for _, e := range st.Timeline[printed:] {
				printChaosEvent(g, e)
			}
		}
		printed = len(st.Timeline)
		if st.State != workflows.ChaosRunning {
			if g.output == "json" {
				_ = printJSON(g.stdout, st)
			} else {
				printVerdict(g, st)
			}
			if st.State != workflows.ChaosPassed {
				return exitError{code: 1}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func printChaosEvent(g *globals, e workflows.ChaosEvent) {
	if g.output == "text" {
		fmt.Fprintf(g.stdout, "%s  %s\n", e.At.UTC().Format("15:04:05.000"), e.What)
	}
}

func printVerdict(g *globals, st workflows.ChaosState) {
	if o := st.Observation; o != nil {
		fmt.Fprintf(g.stdout, "probe: %d requests, %d failed, longest error window %s, p50 %s, p99 %s (resolution %s)\n",
			o.Requests, o.Failed, o.Longest().Round(time.Millisecond), o.P50.Round(time.Millisecond), o.P99.Round(time.Millisecond), o.Resolution)
	}
	switch st.State {
	case workflows.ChaosRunning:
		fmt.Fprintf(g.stdout, "running: %s\n", st.Stage)
	case workflows.ChaosPassed:
		fmt.Fprintf(g.stdout, "PASSED: the SLO held\n")
	default:
		fmt.Fprintf(g.stdout, "%s: %s\n", strings.ToUpper(st.State), strings.Join(st.Failures, "; "))
	}
	if len(st.Undo) > 0 {
		fmt.Fprintf(g.stdout, "faults not yet removed: %d (their expiry removes them if nothing else does)\n", len(st.Undo))
	}
}

// askChaos sends an experiment file to the server, which checks it and
// starts or schedules it (the admin role in its namespace's project).
func (g *globals) askChaos(ctx context.Context, file string, req httpapi.ChaosRequest) (httpapi.ChaosResponse, error) {
	var res httpapi.ChaosResponse
	text, err := os.ReadFile(file)
	if err != nil {
		return res, fmt.Errorf("read experiment: %w", err)
	}
	req.File, req.Experiment = filepath.Base(file), string(text)
	return res, g.adminCall(ctx, http.MethodPost, "/api/v1/chaos", req, &res)
}

// adminCall sends one of the administrators' requests: a 2xx JSON answer
// is decoded into out; anything else is the server's refusal.
func (g *globals) adminCall(ctx context.Context, method, path string, body, out any) error {
	code, err := g.api(ctx, method, path, body, out)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return fmt.Errorf("the server answered %d to %s", code, path)
	}
	return nil
}

func newChaosScheduleCmd(g *globals) *cobra.Command {
	var every time.Duration
	var target string
	var now bool
	cmd := &cobra.Command{
		Use:     "schedule FILE --every DURATION",
		Short:   "Run an experiment again and again (a Temporal Schedule; a run still going when the next is due is not doubled)",
		Args:    cobra.ExactArgs(1),
		PreRunE: checkExperiment,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := g.askChaos(cmd.Context(), args[0], httpapi.ChaosRequest{TargetNamespace: target, Every: every.String(), Now: now})
			if err != nil {
				return err
			}
			name := strings.TrimPrefix(res.Schedule, "chaos-schedule/")
			fmt.Fprintf(g.stdout, "experiment %s scheduled every %s as %s; its runs are chaos/%s/scheduled-TIME (sluice chaos status)\n", name, every, res.Schedule, name)
			return nil
		},
	}
	cmd.Flags().DurationVar(&every, "every", 0, "how often the experiment runs (at least 1m)")
	cmd.Flags().StringVar(&target, "target-namespace", "", "run against this namespace instead of the file's target.namespace")
	cmd.Flags().BoolVar(&now, "now", false, "also run it once right away")
	_ = cmd.MarkFlagRequired("every")
	return cmd
}

func newChaosUnscheduleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unschedule NAME",
		Short: "Stop an experiment's recurring runs (a run in progress finishes and removes its faults)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res httpapi.ChaosResponse
			if err := g.adminCall(cmd.Context(), http.MethodDelete, "/api/v1/chaos/schedules/"+url.PathEscape(args[0]), nil, &res); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "experiment %s unscheduled\n", args[0])
			return nil
		},
	}
}
