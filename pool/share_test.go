package pool

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestProjectShareOfAPool: project a may hold one pod of the pool at once.
// Two of its runs claim at the same moment on two workers while idle pods
// are there for both: one gets a pod, the other waits, says why, and gets
// a pod only once the first is released. Project b, beside it, claims at
// once.
func TestProjectShareOfAPool(t *testing.T) {
	e := newEnv(t)
	spec := Spec{Name: "share", Image: e.busybox(), MinIdle: 3, MaxTotal: 6}
	w1, w2 := e.pool(spec, "worker-1"), e.pool(spec, "worker-2")
	e.keep(w1)
	e.waitIdle(w1, 3)
	ctx := context.Background()

	type claimed struct {
		run, pod string
		err      error
	}
	results := make(chan claimed, 2)
	var mu sync.Mutex
	var waited []string
	for i, p := range []*Pool{w1, w2} {
		run := []string{"a-1", "a-2"}[i]
		go func() {
			pod, _, err := p.ClaimFor(ctx, Claimant{Run: run, Project: "a", Share: 1, Waiting: func(why string) {
				mu.Lock()
				defer mu.Unlock()
				waited = append(waited, run+": "+why)
			}})
			c := claimed{run: run, err: err}
			if pod != nil {
				c.pod = pod.Name
			}
			results <- c
		}()
	}
	first := <-results
	if first.err != nil {
		t.Fatal(first.err)
	}
	// b is not held back by a's share
	if pod, _, err := w1.ClaimFor(ctx, Claimant{Run: "b-1", Project: "b", Share: 1}); err != nil || pod == nil {
		t.Fatalf("project b's claim: %v", err)
	}
	// the waiting run says why (it may be the one that gave a pod back
	// after both counted at once)
	poll.Until(t, "a's second claim to say it waits for its share", func() bool {
		select {
		case second := <-results:
			t.Fatalf("a's second claim ended before it said it waits: pod %q, %v", second.pod, second.err)
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(waited, "\n"), "waiting for a pod of pool share: project a holds 1 of them, its share (projects[a].quota.pool_pods.share)")
	})
	select {
	case second := <-results:
		t.Fatalf("a's second run got pod %s (%v) while a's first holds %s: beyond its share", second.pod, second.err, first.pod)
	default:
	}
	if err := w1.Release(ctx, first.pod); err != nil {
		t.Fatal(err)
	}
	second := <-results
	if second.err != nil || second.pod == "" || second.pod == first.pod {
		t.Fatalf("a's second claim after the release: %+v", second)
	}
}
