// Package sdkmetrics records the Temporal SDK's own metrics (requests,
// polls, task latencies, workflow and activity counts) and Sluice's
// workflow metrics, which reach it through the SDK, in a Prometheus
// registry. It is apart from package metrics so that the packages that
// count webhooks, runs and claims need not reach Temporal.
package sdkmetrics

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// New returns a Temporal SDK metrics handler that records the SDK's
// metrics in reg under their own names (temporal_request, …). Make one per
// registry: a second would find every name taken and record nothing.
func New(reg prometheus.Registerer) client.MetricsHandler {
	return sdkHandler{m: newSDKMetrics(reg)}
}

// sdkMetrics keeps one Prometheus vector per SDK metric name and label set.
type sdkMetrics struct {
	reg  prometheus.Registerer
	mu   sync.Mutex
	vecs map[string]any
}

func newSDKMetrics(reg prometheus.Registerer) *sdkMetrics {
	return &sdkMetrics{reg: reg, vecs: map[string]any{}}
}

type sdkHandler struct {
	m    *sdkMetrics
	tags map[string]string
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return sdkHandler{m: h.m, tags: merged}
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	keys, values := h.labels()
	v := get(h.m, "counter", name, keys, func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: promName(name), Help: help(name)}, keys)
	})
	if v == nil {
		return noop{}
	}
	c := v.WithLabelValues(values...)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	keys, values := h.labels()
	v := get(h.m, "gauge", name, keys, func() *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: promName(name), Help: help(name)}, keys)
	})
	if v == nil {
		return noop{}
	}
	g := v.WithLabelValues(values...)
	return gaugeFunc(g.Set)
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	keys, values := h.labels()
	v := get(h.m, "timer", name, keys, func() *prometheus.HistogramVec {
		buckets := prometheus.ExponentialBuckets(0.001, 4, 10)
		if isSluice(name) { // a person's wait: minutes to days
			buckets = []float64{10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400}
		}
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: promName(name) + "_seconds", Help: help(name), Buckets: buckets}, keys)
	})
	if v == nil {
		return noop{}
	}
	o := v.WithLabelValues(values...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

func (h sdkHandler) labels() ([]string, []string) {
	keys := slices.Sorted(maps.Keys(h.tags))
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = h.tags[k]
	}
	return keys, values
}

// get returns the vector of a metric name and label set, registering it on
// first use. A metric the SDK emits with two label sets keeps the first;
// the other is dropped (Prometheus needs one set per name).
func get[V prometheus.Collector](m *sdkMetrics, kind, name string, keys []string, newVec func() V) V {
	m.mu.Lock()
	defer m.mu.Unlock()
	var zero V
	id := kind + "/" + name
	if v, ok := m.vecs[id]; ok {
		if e := v.(entry[V]); slices.Equal(e.keys, keys) {
			return e.vec
		}
		return zero
	}
	v := newVec()
	if err := m.reg.Register(v); err != nil {
		m.vecs[id] = entry[V]{keys: nil, vec: zero}
		return zero
	}
	m.vecs[id] = entry[V]{keys: keys, vec: v}
	return v
}

type entry[V any] struct {
	keys []string
	vec  V
}

func promName(name string) string {
	name = strings.NewReplacer(".", "_", "-", "_").Replace(name)
	if !strings.HasPrefix(name, "temporal_") && !isSluice(name) {
		name = "temporal_" + name
	}
	return name
}

// isSluice tells Sluice's own workflow metrics (workflows.Metric*), which
// reach the registry through the SDK's handler, from the SDK's.
func isSluice(name string) bool { return strings.HasPrefix(name, "sluice_") }

func help(name string) string {
	if isSluice(name) {
		return "Sluice workflow metric " + name + " (see workflows/metrics.go)."
	}
	return "Temporal SDK metric " + name + "."
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

type noop struct{}

func (noop) Inc(int64)            {}
func (noop) Update(float64)       {}
func (noop) Record(time.Duration) {}
