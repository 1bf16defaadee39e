package chat

import (
	"context"
	"sync"
	"time"
)

// replayWindow is how long a signed Slack request stays valid (the
// verifier's five minutes) plus clock skew: a signature seen within it is a
// replay.
const replayWindow = 6 * time.Minute

// ReplayRecord remembers the signatures of handled requests where every
// server that handles Slack's requests sees them, across restarts (Sluice's
// records database does: records.Store).
type ReplayRecord interface {
	// FirstSeen records key and reports whether it was not recorded in
	// the window before now. An error means it could not be recorded.
	FirstSeen(ctx context.Context, key string, now time.Time, window time.Duration) (bool, error)
}

// memoryReplays is the ReplayRecord of a server without records: this
// process alone, until it stops. It is safe for concurrent use.
type memoryReplays struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (c *memoryReplays) FirstSeen(_ context.Context, key string, now time.Time, window time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	for s, at := range c.seen {
		if now.Sub(at) > window {
			delete(c.seen, s)
		}
	}
	if _, ok := c.seen[key]; ok {
		return false, nil
	}
	c.seen[key] = now
	return true, nil
}
