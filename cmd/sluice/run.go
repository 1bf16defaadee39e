package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/request"
	"github.com/sluice-cd/sluice/runs"
)

func newRunCmd(g *globals) *cobra.Command {
	var repo, ref, commit, name, pipeline string
	var inputs []string
	var wait bool
	cmd := &cobra.Command{
		Use:   "run --repo PATH|URL --ref BRANCH [--commit SHA] [--pipeline NAME] [--input NAME=VALUE]... [--wait]",
		Short: "Start a pipeline run of a branch (the spec is read from the commit and checked first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			given, err := parseInputs(inputs)
			if err != nil {
				return err
			}
			res, err := g.requestPipelineRun(ctx, httpapi.RunRequest{Repo: repo, Branch: ref, Commit: commit, Name: name, Pipeline: pipeline, Inputs: given})
			if err != nil {
				return err
			}
			started := res.Started
			report := func() error {
				if g.output == "json" && !wait {
					return printJSON(g.stdout, map[string]any{"run_id": started.Ref.String(), "action": started.Action, "commit": res.Commit})
				}
				if g.output == "text" {
					fmt.Fprintf(g.stdout, "run %s (%s) of %s@%s\n  ui %s\n", started.Ref, started.Action, ref, short(res.Commit), g.uiLink(started.Ref))
				}
				return nil
			}
			if started.Action == "superseding" {
				// the successor starts once the superseded run's
				// compensation is done: Temporal knows when
				rc, closeFn, err := g.runsClient(ctx)
				if err != nil {
					return err
				}
				defer closeFn()
				fmt.Fprintf(g.stderr, "superseding %s: its compensation runs first\n", started.Previous)
				if started.Ref, err = rc.WaitForSuccessor(ctx, *started.Previous, 2*time.Minute); err != nil {
					return err
				}
			}
			if err := report(); err != nil || !wait {
				return err
			}
			return g.watch(ctx, started.Ref)
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "repository: a local path, file://, or http(s) URL")
	f.StringVar(&ref, "ref", "", "branch to run, or refs/tags/NAME for a tag (a release)")
	f.StringVar(&commit, "commit", "", "commit SHA (default: the branch's head)")
	f.StringVar(&name, "name", "", "repository name as Sluice shows it (default: from the path or URL)")
	f.StringArrayVar(&inputs, "input", nil, "NAME=VALUE of one of the spec's inputs (repeat for more); checked against its type")
	f.StringVar(&pipeline, "pipeline", "", "one of the repository's .sluice/ pipelines (api for .sluice/api.yml); default: .sluice.yml")
	f.BoolVar(&wait, "wait", false, "follow the run's phases until it finishes; exit 1 unless it succeeds")
	_ = cmd.MarkFlagRequired("repo")
	_ = cmd.MarkFlagRequired("ref")
	return cmd
}

// requestRun asks the Sluice server for a manual run (on.branches does not
// apply). The server builds the request with the builder every door uses,
// under its configuration and policy, and starts it as the token's user:
// a spec that is bad or asks beyond the policy stops there, before
// anything starts.
func (g *globals) requestRun(ctx context.Context, repo, ref, commit, name string) (httpapi.RunResponse, error) {
	return g.requestPipelineRun(ctx, httpapi.RunRequest{Repo: repo, Branch: ref, Commit: commit, Name: name})
}

// requestPipelineRun is requestRun of any request (a pipeline of .sluice/).
func (g *globals) requestPipelineRun(ctx context.Context, req httpapi.RunRequest) (httpapi.RunResponse, error) {
	repo := req.Repo
	// a local path is sent as the absolute path the server reads; a name
	// or URL as it is (the server resolves its own repositories)
	if !gitsrc.IsRemote(repo) {
		if abs, err := request.CloneURL(repo); err == nil {
			repo = abs
		}
	}
	req.Repo = repo
	return g.ask(ctx, "/api/v1/runs", req)
}

// parseInputs reads --input NAME=VALUE flags.
func parseInputs(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--input %q: write NAME=VALUE", f)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--input %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
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
