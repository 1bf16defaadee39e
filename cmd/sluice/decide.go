package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// newDecideCmd builds `approve` (approve=true) and `reject`.
func newDecideCmd(g *globals, approve bool) *cobra.Command {
	var user, comment string
	use, short := "approve RUN --as USER [--comment TEXT]", "Approve a run waiting at its approval gate"
	if !approve {
		use, short = "reject RUN --as USER --comment TEXT", "Reject a run waiting at its approval gate (its compensation runs)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: g.onRun(func(ctx context.Context, rc *runs.Client, ref runs.Ref) error {
			res, err := rc.Decide(ctx, ref, approve, workflows.Decision{User: user, Comment: comment, Via: "cli"})
			if err != nil {
				if g.output == "json" && errors.Is(err, runs.ErrRefused) {
					_ = printJSON(g.stdout, map[string]any{"refused": true, "reason": err.Error()})
				}
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, res)
			}
			verb := "approved"
			if !approve {
				verb = "rejected"
			}
			fmt.Fprintf(g.stdout, "%s by %s: approval is %s", verb, user, res.Status)
			if res.Status == workflows.ApprovalPending {
				fmt.Fprintf(g.stdout, " (%d more needed)", res.Remaining)
			}
			fmt.Fprintln(g.stdout)
			return nil
		}),
	}
	cmd.Flags().StringVar(&user, "as", "", "your approver identity, as listed in the spec")
	cmd.Flags().StringVar(&comment, "comment", "", "comment recorded with the decision")
	_ = cmd.MarkFlagRequired("as")
	if !approve {
		_ = cmd.MarkFlagRequired("comment")
	}
	return cmd
}

func newCancelCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a run; the undo steps of its finished phases run before it closes",
		Args:  cobra.ExactArgs(1),
		RunE: g.onRun(func(ctx context.Context, rc *runs.Client, ref runs.Ref) error {
			ref, err := rc.Cancel(ctx, ref)
			if err != nil {
				return err
			}
			if g.output == "json" && !wait {
				return printJSON(g.stdout, map[string]any{"run_id": ref.String(), "cancel_requested": true})
			}
			if g.output == "text" {
				fmt.Fprintf(g.stdout, "cancellation of %s requested; compensation runs before it closes\n", ref)
			}
			if wait {
				if err := g.watch(ctx, rc, ref); err != nil {
					var ex exitError
					if errors.As(err, &ex) {
						return nil // cancelled is the expected end
					}
					return err
				}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the run has closed")
	return cmd
}

func newRetryCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "retry RUN",
		Short: "Start a new run of a failed run's commit from the failed phase, reusing earlier outputs",
		Args:  cobra.ExactArgs(1),
		RunE: g.onRun(func(ctx context.Context, rc *runs.Client, ref runs.Ref) error {
			started, err := rc.Retry(ctx, ref)
			if err != nil {
				return err
			}
			if g.output == "json" && !wait {
				return printJSON(g.stdout, map[string]any{"run_id": started.Ref.String(), "action": started.Action})
			}
			if g.output == "text" {
				fmt.Fprintf(g.stdout, "run %s (%s)\n  ui %s\n", started.Ref, started.Action, g.uiLink(started.Ref))
			}
			if wait {
				return g.watch(ctx, rc, started.Ref)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the new run until it finishes")
	return cmd
}
