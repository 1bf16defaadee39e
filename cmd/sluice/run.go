package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/pipelines"
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

// buildRequest resolves the commit, reads and checks the spec at that commit
// and describes the push. A bad spec stops here, before anything starts.
func buildRequest(ctx context.Context, repo, ref, commit, name string) (workflows.Request, error) {
	cloneURL := repo
	if !gitsrc.IsRemote(repo) {
		abs, err := filepath.Abs(strings.TrimPrefix(repo, "file://"))
		if err != nil {
			return workflows.Request{}, err
		}
		if _, err := os.Stat(abs); err != nil {
			return workflows.Request{}, fmt.Errorf("repository %s: %w", repo, err)
		}
		cloneURL = abs
	}
	if name == "" {
		name = repoName(cloneURL)
	}
	var err error
	if commit == "" {
		if commit, err = gitsrc.Resolve(ctx, cloneURL, ref); err != nil {
			return workflows.Request{}, fmt.Errorf("resolve %s: %w", ref, err)
		}
	} else if full, err := gitsrc.Resolve(ctx, cloneURL, commit); err == nil {
		commit = full
	}
	data, info, err := gitsrc.ReadFile(ctx, cloneURL, ref, commit, pipelines.FileName)
	if err != nil {
		if errors.Is(err, gitsrc.ErrNotFound) {
			return workflows.Request{}, fmt.Errorf("%w: add a %s to the repository (see `sluice lint --help`)", err, pipelines.FileName)
		}
		return workflows.Request{}, err
	}
	spec, err := pipelines.Parse(pipelines.FileName, data, lastElem(name))
	if err != nil {
		return workflows.Request{}, exitError{code: 1, msg: fmt.Sprintf("%s at %s is invalid; nothing was started:\n%v", pipelines.FileName, short(commit), err)}
	}
	push := workflows.Push{
		Repo: name, CloneURL: cloneURL, Branch: ref, Commit: commit,
		Author: info.AuthorEmail, AuthorIDs: nonEmpty(info.AuthorEmail, info.AuthorName),
		DeliveryID: fmt.Sprintf("cli-%s-%d", short(commit), time.Now().UnixNano()),
		Message:    firstLine(info.Message),
	}
	return workflows.Request{Push: push, Spec: *spec}, nil
}

// repoName derives "acme/hello" from a URL or "hello" from a path.
func repoName(cloneURL string) string {
	if gitsrc.IsRemote(cloneURL) {
		if u, err := url.Parse(cloneURL); err == nil {
			return strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
		}
	}
	return strings.TrimSuffix(filepath.Base(cloneURL), ".git")
}

func lastElem(name string) string { return name[strings.LastIndex(name, "/")+1:] }

func nonEmpty(vals ...string) []string {
	var out []string
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
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
