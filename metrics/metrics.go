// Package metrics holds Sluice's Prometheus metrics: webhook deliveries,
// finished runs, activity (phase and compensation) durations and warm
// pools; sdkmetrics adds the Temporal SDK's own to the same registry. One
// Metrics is made per process and served on --metrics-addr.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is a process's metrics and the registry that serves them.
type Metrics struct {
	Registry *prometheus.Registry
	// WebhookDeliveries counts deliveries by provider and answered status.
	WebhookDeliveries *prometheus.CounterVec
	// RunsFinished counts finished runs by repository and final state.
	RunsFinished *prometheus.CounterVec
	// Activities observes activity durations (the phases, their undos and
	// the notices) by activity name and outcome.
	Activities *prometheus.HistogramVec
	// PoolClaims observes how long claiming a warm build pod took.
	PoolClaims *prometheus.HistogramVec
}

// New makes the metrics, with Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		WebhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_webhook_deliveries_total", Help: "Webhook deliveries by provider and the HTTP status Sluice answered.",
		}, []string{"provider", "code"}),
		RunsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_runs_finished_total", Help: "Pipeline runs that ended, by repository and final state.",
		}, []string{"repo", "state"}),
		Activities: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_activity_duration_seconds", Help: "Duration of each activity attempt (phases, compensation, notices) by activity and outcome.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800},
		}, []string{"activity", "outcome"}),
		PoolClaims: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_pool_claim_seconds", Help: "Time to claim a warm build pod, by pool and outcome.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"pool", "outcome"}),
	}
	reg.MustRegister(m.WebhookDeliveries, m.RunsFinished, m.Activities, m.PoolClaims,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveActivity records one activity attempt.
func (m *Metrics) ObserveActivity(name string, d time.Duration, err error) {
	outcome := "succeeded"
	if err != nil {
		outcome = "failed"
	}
	m.Activities.WithLabelValues(name, outcome).Observe(d.Seconds())
}

// CountWebhook wraps a provider's webhook handler to count its answers.
func (m *Metrics) CountWebhook(provider string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		m.WebhookDeliveries.WithLabelValues(provider, strconv.Itoa(sw.status)).Inc()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// ObserveClaim records one pool claim (pool.Pool.OnClaim).
func (m *Metrics) ObserveClaim(pool string, d time.Duration, err error) {
	outcome := "claimed"
	if err != nil {
		outcome = "failed"
	}
	m.PoolClaims.WithLabelValues(pool, outcome).Observe(d.Seconds())
}

// PoolPods are a pool's pods by state, as a scrape reads them.
type PoolPods struct {
	Pool                    string
	Idle, Starting, Claimed int
}

// WatchPools adds sluice_pool_pods{pool,state}, read from the cluster by
// pods on every scrape.
func (m *Metrics) WatchPools(pods func() []PoolPods) {
	m.Registry.MustRegister(poolCollector{pods: pods})
}

var poolPodsDesc = prometheus.NewDesc("sluice_pool_pods", "Warm build pods by pool and state (idle, starting, claimed).", []string{"pool", "state"}, nil)

type poolCollector struct{ pods func() []PoolPods }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) { ch <- poolPodsDesc }

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.pods() {
		for state, n := range map[string]int{"idle": p.Idle, "starting": p.Starting, "claimed": p.Claimed} {
			ch <- prometheus.MustNewConstMetric(poolPodsDesc, prometheus.GaugeValue, float64(n), p.Pool, state)
		}
	}
}

// DoraKeys are a pipeline's four DORA keys over the last 30 days.
type DoraKeys struct {
	Project, Pipeline, Environment string
	DeploymentsPerDay              float64
	LeadTime, TimeToRestore        time.Duration
	ChangeFailureRate              float64
}

// WatchDora adds sluice_dora_deployments_per_day,
// sluice_dora_lead_time_seconds, sluice_dora_change_failure_rate and
// sluice_dora_time_to_restore_seconds {project,pipeline,environment}, read from
// the records by keys on every scrape.
func (m *Metrics) WatchDora(keys func() []DoraKeys) {
	m.Registry.MustRegister(doraCollector{keys: keys})
}

var doraDescs = func() map[string]*prometheus.Desc {
	labels := []string{"project", "pipeline", "environment"}
	return map[string]*prometheus.Desc{
		"frequency": prometheus.NewDesc("sluice_dora_deployments_per_day", "Successful production releases per day over the last 30 days (DORA deployment frequency).", labels, nil),
		"lead":      prometheus.NewDesc("sluice_dora_lead_time_seconds", "Median time from commit to live in production over the last 30 days (DORA lead time for changes).", labels, nil),
		"failure":   prometheus.NewDesc("sluice_dora_change_failure_rate", "Production releases that failed or were rolled back, over releases, in the last 30 days (DORA change failure rate).", labels, nil),
		"restore":   prometheus.NewDesc("sluice_dora_time_to_restore_seconds", "Median time from a failed or rolled-back release to a good release live again over the last 30 days (DORA time to restore).", labels, nil),
	}
}()

type doraCollector struct{ keys func() []DoraKeys }

func (c doraCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range doraDescs {
		ch <- d
	}
}

func (c doraCollector) Collect(ch chan<- prometheus.Metric) {
	for _, k := range c.keys() {
		for name, v := range map[string]float64{"frequency": k.DeploymentsPerDay, "lead": k.LeadTime.Seconds(),
			"failure": k.ChangeFailureRate, "restore": k.TimeToRestore.Seconds()} {
			ch <- prometheus.MustNewConstMetric(doraDescs[name], prometheus.GaugeValue, v, k.Project, k.Pipeline, k.Environment)
		}
	}
}
