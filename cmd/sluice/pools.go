package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/metrics"
	"github.com/sluice-cd/sluice/pool"
)

// poolSet is the configuration's pools on one cluster.
type poolSet struct {
	pools  []*pool.Pool
	exec   *pool.Execer
	client kubernetes.Interface
}

// loadPools connects to the cluster of kubeconfig for the configuration's
// pools, or returns nil when there are none.
func loadPools(cfg *config.Config, kubeconfig string) (*poolSet, error) {
	if len(cfg.Pools) == 0 {
		return nil, nil
	}
	rc, err := clusterConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("pools %v: %w", cfg.PoolNames(), err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d", host, os.Getpid())
	set := &poolSet{exec: &pool.Execer{Config: rc, Client: cs}, client: cs}
	for _, spec := range cfg.Pools {
		set.pools = append(set.pools, &pool.Pool{Spec: spec, Client: cs, Holder: holder})
	}
	return set, nil
}

// clusterConfig reads kubeconfig; without one, inside a pod, the pod's
// service account (the in-cluster install, deploy/kubernetes).
func clusterConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, errors.New("need a cluster: pass --kubeconfig (or set KUBECONFIG), or run in a pod with a service account")
		}
		return rc, nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return rc, nil
}

// executors are the pools' executors by name.
func (p *poolSet) executors() map[string]executor.Executor {
	out := map[string]executor.Executor{}
	for _, pl := range p.pools {
		out[pl.Spec.Name] = &pool.Executor{Pool: pl, Exec: p.exec}
	}
	return out
}

// observe reports the pools' claims and pods in m.
func (p *poolSet) observe(ctx context.Context, m *metrics.Metrics) {
	for _, pl := range p.pools {
		pl.OnClaim = m.ObserveClaim
	}
	m.WatchPools(func() []metrics.PoolPods {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var out []metrics.PoolPods
		for _, pl := range p.pools {
			if st, err := pl.Status(ctx); err == nil {
				out = append(out, metrics.PoolPods{Pool: st.Name, Idle: st.Idle, Starting: st.Starting, Claimed: st.Claimed})
			}
		}
		return out
	})
}

// keep runs the pool keeper (leader-elected among workers) until ctx ends.
func (p *poolSet) keep(ctx context.Context, log *slog.Logger) {
	klog.SetSlogLogger(log) // client-go's leader election logs through klog
	k := &pool.Keeper{Client: p.client, Pools: p.pools, Identity: p.pools[0].Holder, Log: log}
	go func() {
		if err := k.Run(ctx); err != nil {
			log.Error("pool keeper stopped", "error", err)
		}
	}()
}

func (p *poolSet) named(name string) (*pool.Pool, error) {
	for _, pl := range p.pools {
		if pl.Spec.Name == name {
			return pl, nil
		}
	}
	var names []string
	for _, pl := range p.pools {
		names = append(names, pl.Spec.Name)
	}
	return nil, fmt.Errorf("no pool %q in the configuration (pools: %v)", name, names)
}

func newPoolCmd(g *globals) *cobra.Command {
	var configFile, kubeconfig string
	load := func() (*poolSet, error) {
		if configFile == "" {
			return nil, fmt.Errorf("pass --config: pools are declared in the server configuration")
		}
		cfg, err := config.Load(configFile)
		if err != nil {
			return nil, err
		}
		set, err := loadPools(cfg, kubeconfig)
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
		return set.named(name)
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
			for _, pl := range set.pools {
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
