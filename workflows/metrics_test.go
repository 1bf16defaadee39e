package workflows

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// captured is a metrics handler that keeps what workflows record, keyed
// "name{k=v,...}".
type captured struct {
	mu     *sync.Mutex
	tags   map[string]string
	counts map[string]int64
	timers map[string][]time.Duration
}

func newCaptured() *captured {
	return &captured{mu: &sync.Mutex{}, tags: map[string]string{}, counts: map[string]int64{}, timers: map[string][]time.Duration{}}
}

func (c *captured) WithTags(tags map[string]string) client.MetricsHandler {
	n := *c
	n.tags = maps.Clone(c.tags)
	maps.Copy(n.tags, tags)
	return &n
}

// key names a series by its own tags (the SDK's namespace, task queue and
// workflow type tags are left out).
func (c *captured) key(name string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(c.tags)) {
		if k == "outcome" || k == "phase" {
			kv = append(kv, k+"="+c.tags[k])
		}
	}
	return fmt.Sprintf("%s{%s}", name, strings.Join(kv, ","))
}

func (c *captured) Counter(name string) client.MetricsCounter {
	return counter(func(d int64) { c.mu.Lock(); c.counts[c.key(name)] += d; c.mu.Unlock() })
}
func (c *captured) Gauge(string) client.MetricsGauge { return gauge(func(float64) {}) }
func (c *captured) Timer(name string) client.MetricsTimer {
	return timer(func(d time.Duration) {
		c.mu.Lock()
		c.timers[c.key(name)] = append(c.timers[c.key(name)], d)
		c.mu.Unlock()
	})
}

type counter func(int64)

func (f counter) Inc(d int64) { f(d) }

type gauge func(float64)

func (f gauge) Update(v float64) { f(v) }

type timer func(time.Duration)

func (f timer) Record(d time.Duration) { f(d) }

// TestApprovalWaitIsMeasured: the time from the approval request to the
// decision is recorded once, by outcome, in workflow time.
func TestApprovalWaitIsMeasured(t *testing.T) {
	h := newHarness(t)
	h.decideAt(t, 90*time.Minute, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
	if _, err := h.result(t); err != nil {
		t.Fatal(err)
	}
	got := h.metrics.timers[MetricApprovalWait+"{outcome=approved}"]
	if len(got) != 1 || got[0] < 89*time.Minute || got[0] > 91*time.Minute {
		t.Fatalf("approval wait %v, want one of about 90m (all: %v)", got, h.metrics.timers)
	}
}

// TestCompensationsAreCounted: every undo run by compensation is counted
// by phase and outcome.
func TestCompensationsAreCounted(t *testing.T) {
	h := newHarness(t)
	h.failAt = "production"
	h.decideAt(t, time.Hour, UpdateApprove, Decision{User: "alice"})
	h.env.ExecuteWorkflow(Pipeline, input(fullSpec(t)))
	_, _ = h.result(t)
	for _, phase := range []string{"production", "promote", "deploy"} {
		if n := h.metrics.counts[MetricCompensations+"{outcome=succeeded,phase="+phase+"}"]; n != 1 {
			t.Errorf("compensations of %s: %d, want 1 (all: %v)", phase, n, h.metrics.counts)
		}
	}
}
