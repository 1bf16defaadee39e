package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/release"
)

// releaseTarget is where a pipeline releases: read from its spec, or given
// by flags.
type releaseTarget struct {
	specFile, pipeline, namespace, context, kubeconfig string
}

func (t *releaseTarget) flags(cmd *cobra.Command, cluster bool) {
	f := cmd.Flags()
	f.StringVarP(&t.specFile, "file", "f", pipelines.FileName, "the pipeline's spec: its name and environments.production")
	f.StringVar(&t.pipeline, "pipeline", "", "pipeline name (default: the spec's)")
	f.StringVar(&t.namespace, "prod-namespace", "", "production namespace (default: the spec's environments.production.namespace)")
	f.StringVar(&t.context, "context", "", "kubeconfig context (default: the spec's environments.production.context)")
	if cluster {
		f.StringVar(&t.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the production cluster")
	}
}

// releaser connects to the production cluster of the target; args may
// name the pipeline.
func (t *releaseTarget) releaser(args []string) (*release.Releaser, error) {
	if err := t.resolve(args); err != nil {
		return nil, err
	}
	if t.kubeconfig == "" {
		return nil, fmt.Errorf("releases live in the production cluster: pass --kubeconfig (or set KUBECONFIG)")
	}
	c, err := (&environments.Clusters{Kubeconfig: t.kubeconfig}).Context(t.context)
	if err != nil {
		return nil, err
	}
	return &release.Releaser{Cluster: c}, nil
}

// resolve fills in the pipeline, namespace and context from args and the
// spec.
func (t *releaseTarget) resolve(args []string) error {
	if len(args) == 1 {
		t.pipeline = args[0]
	}
	if t.pipeline == "" || t.namespace == "" {
		abs, _ := filepath.Abs(t.specFile)
		spec, err := pipelines.Load(t.specFile, filepath.Base(filepath.Dir(abs)))
		if err != nil {
			return fmt.Errorf("%w (or pass --pipeline and --prod-namespace)", err)
		}
		if spec.Environments.Production == nil {
			return fmt.Errorf("%s has no environments.production: pass --prod-namespace", t.specFile)
		}
		if t.pipeline == "" {
			t.pipeline = spec.Name
		}
		if t.namespace == "" {
			t.namespace = spec.Environments.Production.Namespace
		}
		if t.context == "" {
			t.context = spec.Environments.Production.Context
		}
	}
	return nil
}

func newReleasesCmd(g *globals) *cobra.Command {
	var t releaseTarget
	cmd := &cobra.Command{
		Use:   "releases [PIPELINE]",
		Short: "A pipeline's production releases, newest first: version, state, commit, digest, approvers, run",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := t.releaser(args)
			if err != nil {
				return err
			}
			all, err := r.List(cmd.Context(), t.namespace, t.pipeline)
			if err != nil {
				return err
			}
			for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
				all[i], all[j] = all[j], all[i]
			}
			if g.output == "json" {
				for _, rec := range all {
					rec.Objects = nil
				}
				return printJSON(g.stdout, all)
			}
			if len(all) == 0 {
				fmt.Fprintf(g.stdout, "%s has no releases in %s\n", t.pipeline, t.namespace)
				return nil
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tSTATE\tSTRATEGY\tCOMMIT\tDIGEST\tAGE\tAPPROVED BY\tRUN\tNOTE")
			for _, rec := range all {
				note := rec.Reason
				if rec.RollbackOf != 0 {
					note = fmt.Sprintf("rollback to v%d", rec.RollbackOf)
					if rec.RolledBackBy != "" {
						note += " by " + rec.RolledBackBy
					}
				}
				strategy := rec.Strategy
				if rec.Color != "" {
					strategy += " (" + rec.Color + ")"
				}
				approvers := strings.Join(rec.ApprovedBy, ",")
				if approvers == "" {
					approvers = "-"
				}
				fmt.Fprintf(w, "v%d\t%s\t%s\t%.12s\t%.19s\t%s\t%s\t%s\t%s\n", rec.Version, rec.State, strategy, rec.Commit, rec.Digest,
					time.Since(rec.Created).Round(time.Second), approvers, rec.Run, note)
			}
			return w.Flush()
		},
	}
	t.flags(cmd, true)
	return cmd
}

func newRollbackCmd(g *globals) *cobra.Command {
	var t releaseTarget
	var to int
	var reason string
	cmd := &cobra.Command{
		Use:   "rollback [PIPELINE] [--to N] --reason TEXT",
		Short: "Make an earlier production release live again (default: the one before the live one): a Rollback run the server starts for you, recorded as a new release",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := t.resolve(args); err != nil {
				return err
			}
			ctx := cmd.Context()
			var started httpapi.RollbackResponse
			code, err := g.api(ctx, http.MethodPost, "/api/v1/rollbacks", httpapi.RollbackRequest{
				Pipeline: t.pipeline, Namespace: t.namespace, Context: t.context, To: to, Reason: reason}, &started)
			if err != nil {
				return err
			}
			if code != http.StatusAccepted {
				return fmt.Errorf("the server answered %d", code)
			}
			fmt.Fprintf(g.stderr, "rollback %s (by %s)\n", started.Ref, started.By)
			if a := started.Approval; a != nil {
				fmt.Fprintf(g.stderr, "waiting for %d approval(s) of %s before anything changes: `sluice approve %s` (or reject it with --comment); you cannot approve your own\n",
					a.Required, strings.Join(a.Approvers, ", "), started.Ref)
			}
			rc, closeFn, err := g.runsClient(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			res, err := rc.RollbackResult(ctx, started.Ref)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "v%d is live: rollback to v%d of commit %.12s (%s)\n", res.Version, res.RollbackOf, res.Commit, res.Digest)
			return nil
		},
	}
	cmd.Flags().IntVar(&to, "to", 0, "release version to bring back (sluice releases lists them)")
	cmd.Flags().StringVar(&reason, "reason", "", "why: recorded with the rollback")
	_ = cmd.MarkFlagRequired("reason")
	t.flags(cmd, false)
	return cmd
}
