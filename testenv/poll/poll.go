// Package poll waits in tests for a condition that another process or
// goroutine makes true, with a deadline generous enough for a loaded
// two-core machine. It replaces fixed sleeps as synchronisation.
package poll

import (
	"testing"
	"time"
)

// Deadline is how long Until waits before failing the test.
const Deadline = 60 * time.Second

// Until calls cond every 20ms until it returns true, and fails the test with
// what when Deadline passes first.
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	UntilWithin(tb, Deadline, what, cond)
}

// UntilWithin is Until with its own deadline, for conditions known to take
// longer than Deadline (a TTL to pass).
func UntilWithin(tb testing.TB, deadline time.Duration, what string, cond func() bool) {
	tb.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			tb.Fatalf("timed out after %s waiting for %s", deadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
