package pool

import (
	"context"
	"testing"

	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestResizeAndDrainAreKeptInTheCluster: `sluice pool resize` and `drain`
// store the minimum in the cluster; the keeper (any worker's) follows it,
// and a drained pool stays empty.
func TestResizeAndDrainAreKeptInTheCluster(t *testing.T) {
	e := newEnv(t)
	p := e.pool(Spec{Name: "sized", Image: e.busybox(), MinIdle: 1, MaxTotal: 3}, "w")
	e.keep(p)
	e.waitIdle(p, 1)
	ctx := context.Background()
	if err := p.Resize(ctx, 3); err != nil {
		t.Fatal(err)
	}
	e.waitIdle(p, 3)
	if err := p.Resize(ctx, 4); err == nil {
		t.Fatal("resized past max_total")
	}
	n, err := p.Drain(ctx)
	if err != nil || n != 3 {
		t.Fatalf("drain deleted %d pods, err %v", n, err)
	}
	poll.Until(t, "the drained pool to be empty", func() bool {
		st, err := p.Status(ctx)
		return err == nil && st.Idle+st.Starting == 0 && st.MinIdle == 0
	})
	// a keeper pass after the drain creates nothing
	k := &Keeper{Client: e.client, Pools: []*Pool{p}}
	if err := k.Reconcile(ctx, p); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.Status(ctx); st.Idle+st.Starting != 0 {
		t.Fatalf("the drained pool refilled: %+v", st)
	}
}
