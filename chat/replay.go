package chat

import (
	"sync"
	"time"
)

// replayWindow is how long a signed Slack request stays valid (the
// verifier's five minutes) plus clock skew: a signature seen within it is a
// replay.
const replayWindow = 6 * time.Minute

// replayCache remembers request signatures for the replay window. The zero
// value is ready; it is safe for concurrent use. Its size is bounded by the
// requests one window can bring.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// first records sig and reports whether it was not seen within the window.
func (c *replayCache) first(sig string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	for s, at := range c.seen {
		if now.Sub(at) > replayWindow {
			delete(c.seen, s)
		}
	}
	if _, ok := c.seen[sig]; ok {
		return false
	}
	c.seen[sig] = now
	return true
}
