package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// PlatformHeartbeat is how often platform activities that wait on the
// cluster report that their worker is alive.
const PlatformHeartbeat = 3 * time.Second

// heartbeat reports the activity alive every PlatformHeartbeat until the
// returned stop is called, so a dead worker is noticed within the phase's
// heartbeat timeout rather than its whole timeout.
func heartbeat(ctx context.Context) (stop func()) {
	return (&heartbeats{}).run(ctx)
}

// heartbeats reports the activity alive every PlatformHeartbeat with the
// latest details set (none until one is), which a retry of the activity
// reads back.
type heartbeats struct {
	mu   sync.Mutex
	last any
}

func (h *heartbeats) set(details any) {
	h.mu.Lock()
	h.last = details
	h.mu.Unlock()
}

func (h *heartbeats) run(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(PlatformHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.mu.Lock()
				d := h.last
				h.mu.Unlock()
				if d == nil {
					activity.RecordHeartbeat(ctx)
				} else {
					activity.RecordHeartbeat(ctx, d)
				}
			}
		}
	}()
	return cancel
}
