package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/image"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var key, commit string
	cmd := &cobra.Command{
		Use:   "verify IMAGE@DIGEST [--key signing.key.pub] [--commit SHA]",
		Short: "Check an image's signature (cosign's format) against Sluice's public key, which commit it was signed for, and its attestations (SBOM, test result)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, digest, ok := strings.Cut(args[0], "@")
			if !ok || !strings.HasPrefix(digest, "sha256:") {
				return fmt.Errorf("name the image by digest: REPOSITORY@sha256:… (sluice status shows a run's digest)")
			}
			v, err := image.LoadVerifierFile(key)
			if err != nil {
				return fmt.Errorf("%w (pass --key: the worker's signing key's .pub)", err)
			}
			got, err := v.Verify(cmd.Context(), repo, digest, commit)
			if err != nil {
				return err
			}
			sbom, serr := v.VerifiedSBOM(cmd.Context(), repo, digest)
			tested, terr := v.VerifiedTestResult(cmd.Context(), repo, digest)
			if g.output == "json" {
				out := map[string]any{"image": args[0], "commit": got, "verified": true}
				if serr == nil {
					out["sbom"] = sbom
				}
				if terr == nil {
					out["test_result"] = tested
				}
				return printJSON(g.stdout, out)
			}
			fmt.Fprintf(g.stdout, "%s: signed by %s for commit %s\n", args[0], key, got)
			if terr != nil {
				fmt.Fprintf(g.stdout, "test result: none attested with this key (%v)\n", terr)
			} else {
				fmt.Fprintf(g.stdout, "test result (in-toto test-result, signed): %s\n", tested.Result)
			}
			if serr != nil {
				fmt.Fprintf(g.stdout, "SBOM: none attested with this key (%v)\n", serr)
				return nil
			}
			fmt.Fprintf(g.stdout, "SBOM (SPDX 2.3, signed): %d packages\n", len(sbom.Packages))
			for _, p := range sbom.Packages {
				fmt.Fprintf(g.stdout, "  %s %s\n", p.Name, p.VersionInfo)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", filepath.Join(".sluice", "signing.key.pub"), "public key (the worker writes it beside its signing key)")
	cmd.Flags().StringVar(&commit, "commit", "", "require the signature to be for this commit")
	return cmd
}
