package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// newDecideCmd builds `approve` (approve=true) and `reject`. Decisions go
// through the Sluice server, which establishes who decides from the API
// token (or, in single-user `sluice dev`, from --as) and vouches for it to
// the run; a decision sent to Temporal directly does not count.
func newDecideCmd(g *globals, approve bool) *cobra.Command {
	var user, comment, commit string
	use, short := "approve RUN [--comment TEXT]", "Approve a run waiting at its approval gate, as the user of your API token"
	if !approve {
		use, short = "reject RUN --comment TEXT", "Reject a run waiting at its approval gate (its compensation runs)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := runs.ParseRef(args[0])
			if err != nil {
				return err
			}
			if ref.RunID == "" {
				return fmt.Errorf("%s names a branch, not a run: decide on the run you reviewed by its id (%s@<run id>, as `sluice status` prints it)", ref, ref.WorkflowID)
			}
			if commit == "" && !workflows.IsRollbackID(ref.WorkflowID) {
				// the run's own commit: the run id is what was reviewed
				if commit, err = g.runCommit(cmd.Context(), ref); err != nil {
					return err
				}
			}
			var res httpapi.DecisionResponse
			code, err := g.api(cmd.Context(), http.MethodPost, "/api/v1/decisions",
				httpapi.DecisionRequest{Run: ref.String(), Commit: commit, Approve: approve, Comment: comment, As: user}, &res)
			if err != nil {
				return err
			}
			if code == http.StatusConflict {
				if g.output == "json" {
					_ = printJSON(g.stdout, map[string]any{"refused": true, "reason": res.Refused})
				}
				return fmt.Errorf("%w: %s", runs.ErrRefused, res.Refused)
			}
			if g.output == "json" {
				return printJSON(g.stdout, res)
			}
			verb := "approved"
			if !approve {
				verb = "rejected"
			}
			fmt.Fprintf(g.stdout, "%s by %s: approval is %s", verb, res.User, res.Status)
			if res.Status == workflows.ApprovalPending {
				fmt.Fprintf(g.stdout, " (%d more needed)", res.Remaining)
			}
			fmt.Fprintln(g.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "as", "", "decide as this user: only a `sluice dev` server in single-user mode accepts it; elsewhere your API token says who you are")
	cmd.Flags().StringVar(&comment, "comment", "", "comment recorded with the decision")
	cmd.Flags().StringVar(&commit, "commit", "", "the commit you reviewed (7 characters or more); refused when the run releases another (default: the run's own)")
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
		RunE: g.withRef(func(ctx context.Context, ref runs.Ref) error {
			res, err := g.askOnRun(ctx, "/api/v1/cancellations", ref)
			if err != nil {
				return err
			}
			ref = res.Ref
			if g.output == "json" && !wait {
				return printJSON(g.stdout, map[string]any{"run_id": ref.String(), "cancel_requested": true})
			}
			if g.output == "text" {
				fmt.Fprintf(g.stdout, "cancellation of %s requested; compensation runs before it closes\n", ref)
			}
			if wait {
				if err := g.watch(ctx, ref); err != nil {
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
		RunE: g.withRef(func(ctx context.Context, ref runs.Ref) error {
			res, err := g.askOnRun(ctx, "/api/v1/retries", ref)
			if err != nil {
				return err
			}
			started := res.Started
			if g.output == "json" && !wait {
				return printJSON(g.stdout, map[string]any{"run_id": started.Ref.String(), "action": started.Action})
			}
			if g.output == "text" {
				fmt.Fprintf(g.stdout, "run %s (%s)\n  ui %s\n", started.Ref, started.Action, g.uiLink(started.Ref))
			}
			if wait {
				return g.watch(ctx, started.Ref)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the new run until it finishes")
	return cmd
}

// runCommit is the commit a run releases.
func (g *globals) runCommit(ctx context.Context, ref runs.Ref) (string, error) {
	rc, closeFn, err := g.runsClient(ctx)
	if err != nil {
		return "", err
	}
	defer closeFn()
	_, st, err := rc.Status(ctx, ref)
	if err != nil {
		return "", err
	}
	if st.Request.Push.Commit == "" {
		return "", fmt.Errorf("run %s names no commit", ref)
	}
	return st.Request.Push.Commit, nil
}

// askOnRun asks the Sluice server to act on a run (cancel, retry) as your
// API token's client: the server checks your role in the run's project.
func (g *globals) askOnRun(ctx context.Context, path string, ref runs.Ref) (httpapi.RunResponse, error) {
	return g.ask(ctx, path, httpapi.RunRef{Run: ref.String()})
}

// ask posts body to one of the server's run routes: 202 is the answer, 422
// a refusal with its reason (exit 1).
func (g *globals) ask(ctx context.Context, path string, body any) (httpapi.RunResponse, error) {
	var res httpapi.RunResponse
	code, err := g.api(ctx, http.MethodPost, path, body, &res)
	if err != nil {
		return res, err
	}
	if code == http.StatusUnprocessableEntity {
		return res, exitError{code: 1, msg: res.Refused}
	}
	if code != http.StatusAccepted {
		return res, fmt.Errorf("the server answered %d to %s", code, path)
	}
	return res, nil
}
