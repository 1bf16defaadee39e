package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/httpapi"
)

func newUnfreezeCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "unfreeze RUN --reason TEXT",
		Short: "Release a run's production from the freeze window it waits for (an administrator of its project; recorded with who and why)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res httpapi.UnfreezeResponse
			code, err := g.api(cmd.Context(), http.MethodPost, "/api/v1/unfreezes", httpapi.UnfreezeRequest{Run: args[0], Reason: reason}, &res)
			switch {
			case err != nil:
				return err
			case res.Refused != "":
				return exitError{code: 1, msg: res.Refused}
			case code != http.StatusOK || res.Override == nil:
				return fmt.Errorf("the server answered %d", code)
			}
			if g.output == "json" {
				return printJSON(g.stdout, res.Override)
			}
			fmt.Fprintf(g.stdout, "%s released from its freeze (until %s) by %s: %s\n", args[0], res.Override.Until, res.Override.User, res.Override.Reason)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the release cannot wait (recorded with the run)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}
