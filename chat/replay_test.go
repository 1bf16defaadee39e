package chat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplaysOutliveARestart: with a file, a signature recorded by one
// cache (a server) is a replay for a fresh cache on the same file (the
// server restarted, or another on the data dir) within the window, and
// not after it; concurrent caches on one file let exactly one handle a
// signature; the file stays bounded by the window.
func TestReplaysOutliveARestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slack-replays")
	now := time.Now()
	first := func(c *replayCache, sig string, at time.Time) bool {
		t.Helper()
		ok, err := c.first(sig, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	before := &replayCache{file: file}
	if !first(before, "v0=aa", now) {
		t.Fatal("a new signature was refused")
	}
	after := &replayCache{file: file} // the restarted server's
	if first(after, "v0=aa", now.Add(time.Minute)) {
		t.Fatal("after a restart, a request captured a minute ago was handled again")
	}
	if !first(after, "v0=aa", now.Add(replayWindow+time.Second)) {
		t.Fatal("a signature past the window is still refused")
	}

	// four servers, one captured request each: one handles it
	var wg sync.WaitGroup
	handled := make(chan bool, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := (&replayCache{file: file}).first("v0=bb", now.Add(time.Hour))
			handled <- ok && err == nil
		}()
	}
	wg.Wait()
	close(handled)
	n := 0
	for ok := range handled {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 4 servers handled one request", n)
	}

	// a day of clicks keeps only the window's in the file
	c := &replayCache{file: file}
	for i := range 2000 {
		first(c, fmt.Sprintf("v0=%04x", i), now.Add(2*time.Hour+time.Duration(i)*time.Minute))
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines > 2*7+64+1 {
		t.Fatalf("%d lines kept for a %s window of a click a minute", lines, replayWindow)
	}
	if !strings.Contains(string(b), "v0=07cf") {
		t.Fatal("the last signature was not kept")
	}
}

// TestReplayFileUnwritable: a cache that cannot record a signature says
// so, and the request is not handled.
func TestReplayFileUnwritable(t *testing.T) {
	c := &replayCache{file: filepath.Join(t.TempDir(), "missing-dir", "slack-replays")}
	if ok, err := c.first("v0=cc", time.Now()); ok || err == nil {
		t.Fatalf("first = %v, %v; want an error", ok, err)
	}
}
