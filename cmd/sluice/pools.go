package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/app"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/httpapi"
)

func newPoolCmd(g *globals) *cobra.Command {
	var configFile, kubeconfig string
	load := func() (*app.Pools, error) {
		if configFile == "" {
			return nil, fmt.Errorf("pass --config: pools are declared in the server configuration")
		}
		cfg, err := config.Load(configFile)
		if err != nil {
			return nil, err
		}
		set, err := app.LoadPools(cfg, kubeconfig)
		if err == nil && set == nil {
			err = fmt.Errorf("%s declares no pools", configFile)
		}
		return set, err
	}
	cmd := &cobra.Command{Use: "pool", Short: "Inspect (with the cluster's kubeconfig) and size (through the server) the warm build-pod pools"}

	list := &cobra.Command{
		Use: "list", Short: "Pools with their idle, starting and claimed pods, oldest claim and problems", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := load()
			if err != nil {
				return err
			}
			all, err := set.Statuses(cmd.Context())
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, all)
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "POOL\tNAMESPACE\tIDLE\tSTARTING\tCLAIMED\tMIN/MAX\tOLDEST CLAIM\tPROBLEM")
			for _, st := range all {
				oldest := "-"
				if !st.OldestClaim.IsZero() {
					oldest = time.Since(st.OldestClaim).Round(time.Second).String()
				}
				problem := "-"
				if len(st.Problems) > 0 {
					problem = st.Problems[0]
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d/%d\t%s\t%s\n", st.Name, st.Namespace, st.Idle, st.Starting, st.Claimed, st.MinIdle, st.MaxTotal, oldest, problem)
			}
			return w.Flush()
		},
	}
	list.Flags().StringVar(&configFile, "config", "", "server configuration that declares the pools")
	list.Flags().StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the pools' cluster")
	drain := &cobra.Command{
		Use: "drain NAME", Short: "Stop keeping idle pods for a pool and delete the idle ones (claimed pods finish their runs)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := g.sizePool(cmd.Context(), args[0], httpapi.PoolSizeRequest{Drain: true})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "pool %s drained: %d idle pods deleted; `sluice pool resize %s --min N` refills it (run %s)\n", args[0], res.Deleted, args[0], res.Run)
			return nil
		},
	}
	var minIdle int
	resize := &cobra.Command{
		Use: "resize NAME --min N", Short: "Set how many idle pods the keeper holds for a pool (stored in the cluster)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := g.sizePool(cmd.Context(), args[0], httpapi.PoolSizeRequest{MinIdle: minIdle})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "pool %s: min idle %s (run %s, by %s)\n", args[0], strconv.Itoa(minIdle), res.Run, res.By)
			return nil
		},
	}
	resize.Flags().IntVar(&minIdle, "min", -1, "idle pods to keep (0..max_total)")
	_ = resize.MarkFlagRequired("min")
	cmd.AddCommand(list, drain, resize)
	return cmd
}

// sizePool asks the server to size a pool: a worker with the pool's
// cluster does it, as a PoolSize run (the admin role in the pool's
// project).
func (g *globals) sizePool(ctx context.Context, name string, req httpapi.PoolSizeRequest) (httpapi.PoolSizeResponse, error) {
	var res httpapi.PoolSizeResponse
	return res, g.adminCall(ctx, http.MethodPost, "/api/v1/pools/"+url.PathEscape(name)+"/size", req, &res)
}
