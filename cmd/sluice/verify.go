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
		Short: "Check an image's signature (cosign's format) against Sluice's public key, and which commit it was signed for",
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
			if g.output == "json" {
				return printJSON(g.stdout, map[string]string{"image": args[0], "commit": got, "verified": "true"})
			}
			fmt.Fprintf(g.stdout, "%s: signed by %s for commit %s\n", args[0], key, got)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", filepath.Join(".sluice", "signing.key.pub"), "public key (the worker writes it beside its signing key)")
	cmd.Flags().StringVar(&commit, "commit", "", "require the signature to be for this commit")
	return cmd
}
