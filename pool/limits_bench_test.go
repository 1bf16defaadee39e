package pool

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// BenchmarkPhaseClientLimits runs the same two pod phases (claim and
// checkout, build `true`, test `true`, release) on two pools side by side,
// interleaved, each with its own Kubernetes client for its claims,
// renewals, execs and releases (one keeper with the test's client fills
// both pools, so neither pays for it): one client with client-go's
// default request limits (5/s, bursts of 10: the baseline), one with
// deploy's limits (what every worker client gets). default/limited is how
// much of a phase the client-side limiter took.
func BenchmarkPhaseClientLimits(b *testing.B) {
	e := newEnv(b)
	repo, commit := gitsrctest.Repo(b, "../examples/hello", "")
	variant := func(name string, cfg *rest.Config) *Executor {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		p := e.pool(Spec{Name: name, Image: e.goBuilder(), MinIdle: 2, MaxTotal: 4}, "bench")
		p.Client = cs
		return &Executor{Pool: p, Exec: &Execer{Config: cfg, Client: cs}, KillGrace: 500 * time.Millisecond}
	}
	base := rest.CopyConfig(e.cfg)
	base.QPS, base.Burst = 0, 0 // client-go's defaults
	limited := deploy.WithClientLimits(base)
	base.QPS, base.Burst = rest.DefaultQPS, rest.DefaultBurst
	variants := []struct {
		name  string
		times []time.Duration
		x     *Executor
	}{{name: "default"}, {name: "limited"}}
	var kept []*Pool
	for i, cfg := range []*rest.Config{base, limited} {
		variants[i].x = variant("limits-"+variants[i].name, cfg)
		kept = append(kept, e.pool(variants[i].x.Pool.Spec, "bench"))
	}
	e.keep(kept...)
	for i := 0; b.Loop(); i++ {
		for v := range variants {
			x := variants[v].x
			e.waitIdle(kept[v], 1) // with e's client: the wait costs the variant's none
			variants[v].times = append(variants[v].times, twoPhases(b, x, fmt.Sprintf("run-%d", i), repo, commit))
		}
	}
	d, l := quantile(variants[0].times, 0.5)/2, quantile(variants[1].times, 0.5)/2
	b.ReportMetric(d, "default-ms/phase-p50")
	b.ReportMetric(l, "limited-ms/phase-p50")
	b.ReportMetric(d/l, "default/limited")
	b.ReportMetric(0, "ns/op")
}
