package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/request"
)

func newLintCmd(g *globals) *cobra.Command {
	var schema bool
	var configFile, repo, branch string
	cmd := &cobra.Command{
		Use:   "lint [FILE]",
		Short: "Check a .sluice.yml; exit 1 listing every problem with its line",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if schema {
				b, err := pipelines.JSONSchema()
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(g.stdout, string(b))
				return err
			}
			path := pipelines.FileName
			if len(args) == 1 {
				path = args[0]
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("read spec: %w", err)
			}
			abs, _ := filepath.Abs(path)
			name := filepath.Base(filepath.Dir(abs))
			if name == pipelines.Dir { // .sluice/api.yml: pipeline "<repo>-api"
				name = filepath.Base(filepath.Dir(filepath.Dir(abs))) + "-" + strings.TrimSuffix(filepath.Base(abs), ".yml")
			}
			cfg := &config.Config{}
			if configFile != "" {
				if cfg, err = config.Load(configFile); err != nil {
					return err
				}
			}
			// includes are read as the server reads them (named
			// repositories need its --config)
			frags, err := request.Fragments(cmd.Context(), cfg, data)
			if err != nil {
				var invalid *request.Invalid
				if errors.As(err, &invalid) {
					err = invalid.Err
				}
				return exitError{code: 1, msg: fmt.Sprintf("%s: %v", path, err)}
			}
			spec, err := pipelines.ParseWith(path, data, frags, name)
			if err != nil {
				ps, _ := pipelines.AsProblems(err)
				if g.output == "json" {
					_ = printJSON(g.stdout, map[string]any{"valid": false, "problems": ps})
					return exitError{code: 1}
				}
				return exitError{code: 1, msg: fmt.Sprintf("%v\n%d problem(s) in %s", err, len(ps), path)}
			}
			for _, w := range pipelines.Unused(path, data, spec) {
				fmt.Fprintf(g.stderr, "warning: %v\n", w)
			}
			if configFile != "" {
				for _, ref := range spec.Pools() {
					if err := cfg.CheckPool(ref.Key, ref.Name); err != nil {
						return exitError{code: 1, msg: fmt.Sprintf("%s: %v", path, err)}
					}
				}
				if len(cfg.Projects) > 0 && repo == "" {
					return fmt.Errorf("the configuration has projects: name the repository (--repo owner/name) whose project's policy the spec is checked against")
				}
				governed, err := request.Govern(cfg, repo, branch, *spec, data)
				if err != nil {
					msg := strings.ReplaceAll(err.Error(), pipelines.FileName+":", path+":")
					return exitError{code: 1, msg: msg}
				}
				if gv := governed.Governance; gv != nil {
					for _, w := range gv.Withheld {
						fmt.Fprintf(g.stderr, "%s: a push of branch %s does not run %s: %s\n", path, branch, w.Phase, w.Reason)
					}
				}
				spec = &governed.Spec
			}
			if g.output == "json" {
				return printJSON(g.stdout, map[string]any{"valid": true, "spec": spec})
			}
			var phases []string
			for _, p := range pipelines.PhaseOrder {
				if spec.Enabled(p) {
					phases = append(phases, p)
				}
			}
			fmt.Fprintf(g.stdout, "%s is valid: pipeline %q, phases %v\n", path, spec.Name, phases)
			return nil
		},
	}
	cmd.Flags().BoolVar(&schema, "schema", false, "print the JSON schema of .sluice.yml instead")
	cmd.Flags().StringVar(&configFile, "config", "", "server configuration: also check build.pool against its pools and the spec against the policy of --repo's project")
	cmd.Flags().StringVar(&repo, "repo", "", "with --config: the repository (owner/name) the spec belongs to")
	cmd.Flags().StringVar(&branch, "branch", "main", "with --config: the branch pushed, for the phases its project's policy withholds from it")
	return cmd
}
