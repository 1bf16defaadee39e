package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/app"
)

func newKeysCmd(g *globals) *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "The installation's keys: the image signing key and the decision key"}
	var passwordFile string
	initCmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Make the installation's keys once, in DIR: signing.key (+ .pub, encrypted with SLUICE_SIGNING_PASSWORD or --signing-password-file) and decision-key; refuses to replace one. Keep them (a Kubernetes Secret, a vault) and name them with --signing-key and --decision-key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := app.SigningPassword(passwordFile)
			if err != nil {
				return err
			}
			files, err := app.InitKeys(args[0], password)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintln(g.stdout, f)
			}
			return nil
		},
	}
	initCmd.Flags().StringVar(&passwordFile, "signing-password-file", "", "file holding the signing key's password (else SLUICE_SIGNING_PASSWORD)")
	keys.AddCommand(initCmd)
	return keys
}
