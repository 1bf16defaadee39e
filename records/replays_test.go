package records_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/records"
)

// TestReplays: a signature one server recorded is a replay for another
// server on the same records database (or the same one restarted) within
// the window, and not after it; of four servers given one captured
// request at once, exactly one handles it.
func TestReplays(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := newStore(t)
			const window = 6 * time.Minute
			first := func(s *records.Store, key string, at time.Time) bool {
				t.Helper()
				ok, err := s.FirstSeen(ctx, key, at, window)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if !first(a, "slack:v0=aa", t0) {
				t.Fatal("a new signature was refused")
			}
			if first(a, "slack:v0=aa", t0.Add(time.Minute)) {
				t.Fatal("a request captured a minute ago was handled again")
			}
			if !first(a, "slack:v0=aa", t0.Add(window+time.Second)) {
				t.Fatal("a signature past the window is still refused")
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			handled := 0
			for range 4 {
				wg.Go(func() {
					if ok, err := a.FirstSeen(ctx, "slack:v0=bb", t0.Add(time.Hour), window); err != nil {
						t.Error(err)
					} else if ok {
						mu.Lock()
						handled++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if handled != 1 {
				t.Fatalf("%d of 4 handled one request", handled)
			}
			for i := range 200 {
				first(a, fmt.Sprintf("slack:v0=%04x", i), t0.Add(2*time.Hour+time.Duration(i)*time.Minute))
			}
			if first(a, "slack:v0=00c7", t0.Add(2*time.Hour+200*time.Minute)) {
				t.Fatal("the last signature was not kept")
			}
		})
	}
}
