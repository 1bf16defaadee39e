package chat

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// replayWindow is how long a signed Slack request stays valid (the
// verifier's five minutes) plus clock skew: a signature seen within it is a
// replay.
const replayWindow = 6 * time.Minute

// replayCache remembers request signatures for the replay window. The zero
// value keeps them in memory; with file set they are kept there, so a
// restarted server (or another on the same data dir) still knows them.
// It is safe for concurrent use, and the file for concurrent processes.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
	file string
}

// first records sig and reports whether it was not seen within the window.
// With a file, an error (the signature could not be recorded) means the
// request must not be handled.
func (c *replayCache) first(sig string, now time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file != "" {
		return c.firstInFile(sig, now)
	}
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	expire(c.seen, now)
	if _, ok := c.seen[sig]; ok {
		return false, nil
	}
	c.seen[sig] = now
	return true, nil
}

func expire(seen map[string]time.Time, now time.Time) {
	for s, at := range seen {
		if now.Sub(at) > replayWindow {
			delete(seen, s)
		}
	}
}

// firstInFile is first against the file, one "UNIXNANO SIGNATURE" line a
// request, under an exclusive lock: read what is live, and append sig
// (or rewrite the file with only the live lines, once expired ones
// dominate), synced before the request is handled.
func (c *replayCache) firstInFile(sig string, now time.Time) (bool, error) {
	f, err := os.OpenFile(c.file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("replay record: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return false, fmt.Errorf("replay record: %w", err)
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	seen := map[string]time.Time{}
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines++
		at, s, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(at, 10, 64)
		if ok && err == nil {
			seen[s] = time.Unix(0, n)
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("replay record: %w", err)
	}
	expire(seen, now)
	if _, ok := seen[sig]; ok {
		return false, nil
	}
	line := func(s string, at time.Time) string { return strconv.FormatInt(at.UnixNano(), 10) + " " + s + "\n" }
	if lines > 2*len(seen)+64 {
		var b bytes.Buffer
		for s, at := range seen {
			b.WriteString(line(s, at))
		}
		b.WriteString(line(sig, now))
		if err := f.Truncate(0); err != nil {
			return false, fmt.Errorf("replay record: %w", err)
		}
		if _, err := f.WriteAt(b.Bytes(), 0); err != nil {
			return false, fmt.Errorf("replay record: %w", err)
		}
	} else {
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return false, fmt.Errorf("replay record: %w", err)
		}
		if _, err := f.WriteString(line(sig, now)); err != nil {
			return false, fmt.Errorf("replay record: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("replay record: %w", err)
	}
	return true, nil
}
