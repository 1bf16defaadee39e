package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/request"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

func newRunCmd(g *globals) *cobra.Command {
	var repo, ref, commit, name string
	var wait bool
	cmd := &cobra.Command{
		Use:   "run --repo PATH|URL --ref BRANCH [--commit SHA] [--wait]",
		Short: "Start a pipeline run of a branch (the spec is read from the commit and checked first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req, err := buildRequest(ctx, repo, ref, commit, name)
			if err != nil {
				return err
			}
			rc, closeFn, err := g.runsClient(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			started, err := rc.Start(ctx, req)
			if err != nil {
				return err
			}
			if started.Action == "superseding" {
				fmt.Fprintf(g.stderr, "superseding %s: its compensation runs first\n", started.Previous)
				if started.Ref, err = rc.WaitForSuccessor(ctx, *started.Previous, 2*time.Minute); err != nil {
					return err
				}
			}
			if g.output == "json" && !wait {
				return printJSON(g.stdout, map[string]any{"run_id": started.Ref.String(), "action": started.Action, "commit": req.Push.Commit})
			}
			if g.output == "text" {
				fmt.Fprintf(g.stdout, "run %s (%s) of %s@%s\n  ui %s\n", started.Ref, started.Action, req.Push.Branch, short(req.Push.Commit), g.uiLink(started.Ref))
			}
			if !wait {
				return nil
			}
			return g.watch(ctx, rc, started.Ref)
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "repository: a local path, file://, or http(s) URL")
	f.StringVar(&ref, "ref", "", "branch to run")
	f.StringVar(&commit, "commit", "", "commit SHA (default: the branch's head)")
	f.StringVar(&name, "name", "", "repository name as Sluice shows it (default: from the path or URL)")
	f.BoolVar(&wait, "wait", false, "follow the run's phases until it finishes; exit 1 unless it succeeds")
	_ = cmd.MarkFlagRequired("repo")
	_ = cmd.MarkFlagRequired("ref")
	return cmd
}

// buildRequest builds the request of a manual run (on.branches does not
// apply) with the request builder every door uses. A bad spec stops
// here, before anything starts.
func buildRequest(ctx context.Context, repo, ref, commit, name string) (workflows.Request, error) {
	req, err := (&request.Builder{}).Build(ctx, request.Source{
		Repo: name, CloneURL: repo, Branch: ref, Commit: commit, Manual: true,
	})
	var invalid *request.Invalid
	if errors.As(err, &invalid) {
		return workflows.Request{}, exitError{code: 1, msg: invalid.Error()}
	}
	req.Push.DeliveryID = fmt.Sprintf("cli-%s-%d", short(req.Push.Commit), time.Now().UnixNano())
	return req, err
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func (g *globals) uiLink(r runs.Ref) string {
	return contract.RunLink(g.uiURL, g.namespace, r.WorkflowID, r.RunID)
}
