package main

import (
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/app"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/pool"
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
	named := func(name string) (*pool.Pool, error) {
		set, err := load()
		if err != nil {
			return nil, err
		}
		return set.Named(name)
	}
	cmd := &cobra.Command{Use: "pool", Short: "Inspect and size the warm build-pod pools"}
	cmd.PersistentFlags().StringVar(&configFile, "config", "", "server configuration that declares the pools")
	cmd.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the pools' cluster")

	list := &cobra.Command{
		Use: "list", Short: "Pools with their idle, starting and claimed pods, oldest claim and problems", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := load()
			if err != nil {
				return err
			}
			var all []pool.Status
			for _, pl := range set.All {
				st, err := pl.Status(cmd.Context())
				if err != nil {
					return err
				}
				all = append(all, st)
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
	drain := &cobra.Command{
		Use: "drain NAME", Short: "Stop keeping idle pods for a pool and delete the idle ones (claimed pods finish their runs)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pl, err := named(args[0])
			if err != nil {
				return err
			}
			n, err := pl.Drain(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "pool %s drained: %d idle pods deleted; `sluice pool resize %s --min N` refills it\n", pl.Spec.Name, n, pl.Spec.Name)
			return nil
		},
	}
	var minIdle int
	resize := &cobra.Command{
		Use: "resize NAME --min N", Short: "Set how many idle pods the keeper holds for a pool (stored in the cluster)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pl, err := named(args[0])
			if err != nil {
				return err
			}
			if err := pl.Resize(cmd.Context(), minIdle); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "pool %s: min idle %s\n", pl.Spec.Name, strconv.Itoa(minIdle))
			return nil
		},
	}
	resize.Flags().IntVar(&minIdle, "min", -1, "idle pods to keep (0..max_total)")
	_ = resize.MarkFlagRequired("min")
	cmd.AddCommand(list, drain, resize)
	return cmd
}
