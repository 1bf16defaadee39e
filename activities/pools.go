package activities

import (
	"context"
	"sort"
	"strings"

	"github.com/sluice-cd/sluice/contract"
)

// PoolSizer is one warm build-pod pool as sizing sees it (pool.Pool).
type PoolSizer interface {
	Resize(ctx context.Context, minIdle int) error
	Drain(ctx context.Context) (int, error)
}

// Pools sizes the worker's pools for PoolSize runs.
type Pools struct {
	// Sizers are the pools by name; nil on a worker without pools.
	Sizers map[string]PoolSizer
}

// SizePool sets a pool's idle target (and drains its idle pods). Sizing
// is idempotent: a retried attempt sets the same target.
func (p *Pools) SizePool(ctx context.Context, in contract.PoolSizeInput) (_ contract.PoolSizeResult, err error) {
	defer classify(&err)
	pl, ok := p.Sizers[in.Pool]
	if !ok {
		if len(p.Sizers) == 0 {
			return contract.PoolSizeResult{}, missing("pool sizing", "this worker has no pools: declare them under pools in its --config")
		}
		names := make([]string, 0, len(p.Sizers))
		for n := range p.Sizers {
			names = append(names, n)
		}
		sort.Strings(names)
		return contract.PoolSizeResult{}, invalid("no pool %q on this worker (pools: %s)", in.Pool, strings.Join(names, ", "))
	}
	if in.Drain {
		n, err := pl.Drain(ctx)
		return contract.PoolSizeResult{MinIdle: 0, Deleted: n}, err
	}
	if err := pl.Resize(ctx, in.MinIdle); err != nil {
		return contract.PoolSizeResult{}, err
	}
	return contract.PoolSizeResult{MinIdle: in.MinIdle}, nil
}
