package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/chaos"
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
		RunE: g.withTemporal(func(ctx context.Context, c client.Client, args []string) error {
			in, err := loadExperiment(args[0], target)
			if err != nil {
				return err
			}
			id := fmt.Sprintf("chaos/%s/%s", in.Experiment.Name, time.Now().UTC().Format("20060102T150405.000"))
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: id, TaskQueue: workflows.TaskQueue,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			}, workflows.Chaos, *in)
			if err != nil {
				return fmt.Errorf("start experiment: %w", err)
			}
			if g.output == "text" {
				fmt.Fprintf(g.stdout, "experiment %s started: %s\n", in.Experiment.Name, run.GetID())
			}
			if detach {
				if g.output == "json" {
					return printJSON(g.stdout, map[string]string{"id": run.GetID()})
				}
				return nil
			}
			return g.followChaos(ctx, c, run.GetID())
		}),
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
		RunE: g.withTemporal(func(ctx context.Context, c client.Client, args []string) error {
			if err := c.CancelWorkflow(ctx, args[0], ""); err != nil {
				return chaosNotFound(args[0], err)
			}
			fmt.Fprintf(g.stdout, "cancellation of %s requested; its faults are removed before it closes\n", args[0])
			return nil
		}),
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

// ChaosScheduleID is the Temporal Schedule of an experiment's recurring runs.
func ChaosScheduleID(experiment string) string { return "chaos-schedule/" + experiment }

func newChaosScheduleCmd(g *globals) *cobra.Command {
	var every time.Duration
	var target string
	var now bool
	cmd := &cobra.Command{
		Use:     "schedule FILE --every DURATION",
		Short:   "Run an experiment again and again (a Temporal Schedule; a run still going when the next is due is not doubled)",
		Args:    cobra.ExactArgs(1),
		PreRunE: checkExperiment,
		RunE: g.withTemporal(func(ctx context.Context, c client.Client, args []string) error {
			if every < time.Minute {
				return fmt.Errorf("--every %s: an experiment may recur at most once a minute", every)
			}
			in, err := loadExperiment(args[0], target)
			if err != nil {
				return err
			}
			id := ChaosScheduleID(in.Experiment.Name)
			_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{
				ID:                 id,
				Spec:               client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
				Overlap:            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
				TriggerImmediately: now,
				Action: &client.ScheduleWorkflowAction{
					ID: "chaos/" + in.Experiment.Name + "/scheduled", Workflow: workflows.Chaos, Args: []any{*in}, TaskQueue: workflows.TaskQueue,
				},
			})
			if err != nil {
				return fmt.Errorf("schedule %s: %w (an experiment of that name is already scheduled? remove it with `sluice chaos unschedule %s`)", id, err, in.Experiment.Name)
			}
			fmt.Fprintf(g.stdout, "experiment %s scheduled every %s as %s; its runs are chaos/%s/scheduled-TIME (sluice chaos status)\n", in.Experiment.Name, every, id, in.Experiment.Name)
			return nil
		}),
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
		RunE: g.withTemporal(func(ctx context.Context, c client.Client, args []string) error {
			if err := c.ScheduleClient().GetHandle(ctx, ChaosScheduleID(args[0])).Delete(ctx); err != nil {
				return chaosNotFound(ChaosScheduleID(args[0]), err)
			}
			fmt.Fprintf(g.stdout, "experiment %s unscheduled\n", args[0])
			return nil
		}),
	}
}
