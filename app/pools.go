package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/metrics"
	"github.com/sluice-cd/sluice/pool"
)

// Pools are the configuration's warm build-pod pools on one cluster.
type Pools struct {
	// All are the pools in the configuration's order.
	All    []*pool.Pool
	exec   *pool.Execer
	client kubernetes.Interface
}

// LoadPools connects to the cluster of kubeconfig (the pod's service
// account when empty) for cfg's pools, or returns nil when it has none.
// The connection carries deploy's client limits: with client-go's
// default of 5 requests/s, a claimed pod's lease renewals, execs and reads
// queue behind each other (BenchmarkPhaseClientLimits, pool).
func LoadPools(cfg *config.Config, kubeconfig string) (*Pools, error) {
	if len(cfg.Pools) == 0 {
		return nil, nil
	}
	rc, err := deploy.Config(kubeconfig, "", false)
	if err != nil {
		return nil, fmt.Errorf("pools %v: %w", cfg.PoolNames(), err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d", host, os.Getpid())
	set := &Pools{exec: &pool.Execer{Config: rc, Client: cs}, client: cs}
	for _, spec := range cfg.Pools {
		set.All = append(set.All, &pool.Pool{Spec: spec, Client: cs, Holder: holder})
	}
	return set, nil
}

// executors are the pools' executors by name.
func (p *Pools) executors() map[string]executor.Executor {
	out := map[string]executor.Executor{}
	for _, pl := range p.All {
		out[pl.Spec.Name] = &pool.Executor{Pool: pl, Exec: p.exec}
	}
	return out
}

// sizers are the pools by name, for PoolSize runs.
func (p *Pools) sizers() map[string]activities.PoolSizer {
	out := map[string]activities.PoolSizer{}
	for _, pl := range p.All {
		out[pl.Spec.Name] = pl
	}
	return out
}

// observe reports the pools' claims and pods in m.
func (p *Pools) observe(ctx context.Context, m *metrics.Metrics) {
	for _, pl := range p.All {
		pl.OnClaim = m.ObserveClaim
	}
	m.WatchPools(func() []metrics.PoolPods {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var out []metrics.PoolPods
		for _, pl := range p.All {
			if st, err := pl.Status(ctx); err == nil {
				out = append(out, metrics.PoolPods{Pool: st.Name, Idle: st.Idle, Starting: st.Starting, Claimed: st.Claimed})
			}
		}
		return out
	})
}

// keep runs the pool keeper (leader-elected among workers) until ctx ends.
func (p *Pools) keep(ctx context.Context, log *slog.Logger) {
	klog.SetSlogLogger(log) // client-go's leader election logs through klog
	k := &pool.Keeper{Client: p.client, Pools: p.All, Identity: p.All[0].Holder, Log: log}
	go func() {
		if err := k.Run(ctx); err != nil {
			log.Error("pool keeper stopped", "error", err)
		}
	}()
}

// Named is the pool called name.
func (p *Pools) Named(name string) (*pool.Pool, error) {
	for _, pl := range p.All {
		if pl.Spec.Name == name {
			return pl, nil
		}
	}
	var names []string
	for _, pl := range p.All {
		names = append(names, pl.Spec.Name)
	}
	return nil, fmt.Errorf("no pool %q in the configuration (pools: %v)", name, names)
}

// Statuses reads every pool's pods (the console's pools page).
func (p *Pools) Statuses(ctx context.Context) ([]pool.Status, error) {
	var out []pool.Status
	for _, pl := range p.All {
		st, err := pl.Status(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
