package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/release"
)

// releaseTarget is where a pipeline releases: read from its spec, or given
// by flags.
type releaseTarget struct {
	specFile, pipeline, namespace, context, kubeconfig string
}

func (t *releaseTarget) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&t.specFile, "file", "f", pipelines.FileName, "the pipeline's spec: its name and environments.production")
	f.StringVar(&t.pipeline, "pipeline", "", "pipeline name (default: the spec's)")
	f.StringVar(&t.namespace, "prod-namespace", "", "production namespace (default: the spec's environments.production.namespace)")
	f.StringVar(&t.context, "context", "", "kubeconfig context (default: the spec's environments.production.context)")
	f.StringVar(&t.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the production cluster")
}

// releaser connects to the production cluster of the target; args may
// name the pipeline.
func (t *releaseTarget) releaser(args []string) (*release.Releaser, error) {
	if len(args) == 1 {
		t.pipeline = args[0]
	}
	if t.pipeline == "" || t.namespace == "" {
		abs, _ := filepath.Abs(t.specFile)
		spec, err := pipelines.Load(t.specFile, filepath.Base(filepath.Dir(abs)))
		if err != nil {
			return nil, fmt.Errorf("%w (or pass --pipeline and --prod-namespace)", err)
		}
		if spec.Environments.Production == nil {
			return nil, fmt.Errorf("%s has no environments.production: pass --prod-namespace", t.specFile)
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
	if t.kubeconfig == "" {
		return nil, fmt.Errorf("releases live in the production cluster: pass --kubeconfig (or set KUBECONFIG)")
	}
	c, err := (&environments.Clusters{Kubeconfig: t.kubeconfig}).Context(t.context)
	if err != nil {
		return nil, err
	}
	return &release.Releaser{Cluster: c}, nil
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
	t.flags(cmd)
	return cmd
}

func newRollbackCmd(g *globals) *cobra.Command {
	var t releaseTarget
	var to int
	var key string
	cmd := &cobra.Command{
		Use:   "rollback [PIPELINE] [--to N]",
		Short: "Make an earlier production release live again (default: the one before the live one), recorded as a new release",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := t.releaser(args)
			if err != nil {
				return err
			}
			who := os.Getenv("USER")
			if who == "" {
				who = "cli"
			}
			// Only a release whose image still carries this installation's
			// signature for its commit comes back.
			target, err := r.RollbackTarget(cmd.Context(), t.namespace, t.pipeline, to)
			if err != nil {
				return err
			}
			v, err := image.LoadVerifierFile(key)
			if err != nil {
				return fmt.Errorf("%w (pass --key: the worker's signing key's .pub)", err)
			}
			images := target.Images()
			if len(images) == 0 {
				return fmt.Errorf("release v%d names no image by its digest %s", target.Version, target.Digest)
			}
			for _, ref := range images {
				repo, digest, _ := strings.Cut(ref, "@")
				if _, err := v.Verify(cmd.Context(), repo, digest, target.Commit); err != nil {
					return fmt.Errorf("release v%d cannot come back: %w", target.Version, err)
				}
			}
			to = target.Version
			rec, err := r.Rollback(cmd.Context(), t.namespace, t.pipeline, to, who, g.stderr)
			if err != nil {
				return err
			}
			if g.output == "json" {
				rec.Objects = nil
				return printJSON(g.stdout, rec)
			}
			fmt.Fprintf(g.stdout, "v%d is live: %s of commit %.12s (%s)\n", rec.Version, describeRollback(rec), rec.Commit, rec.Digest)
			return nil
		},
	}
	cmd.Flags().IntVar(&to, "to", 0, "release version to bring back (sluice releases lists them)")
	cmd.Flags().StringVar(&key, "key", filepath.Join(".sluice", "signing.key.pub"), "public key the release's image must still be signed with (the worker writes it beside its signing key)")
	t.flags(cmd)
	return cmd
}

func describeRollback(rec *release.Record) string {
	return fmt.Sprintf("rollback to v%d", rec.RollbackOf)
}
