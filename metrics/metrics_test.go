package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestWebhookDeliveriesByProviderAndCode(t *testing.T) {
	m := New()
	refuse := m.CountWebhook("github", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	accept := m.CountWebhook("gitlab", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	plain := m.CountWebhook("gitea", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for range 2 {
		refuse(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/hooks/github", nil))
	}
	accept(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/hooks/gitlab", nil))
	plain(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/hooks/gitea", nil))
	out := scrape(t, m)
	for _, want := range []string{
		`sluice_webhook_deliveries_total{code="401",provider="github"} 2`,
		`sluice_webhook_deliveries_total{code="202",provider="gitlab"} 1`,
		`sluice_webhook_deliveries_total{code="200",provider="gitea"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %s", want)
		}
	}
}

func TestSDKHandler(t *testing.T) {
	m := New()
	h := m.SDK().WithTags(map[string]string{"namespace": "default"})
	h.WithTags(map[string]string{"task_queue": "sluice"}).Counter("temporal_request").Inc(3)
	h.Timer("temporal_activity_execution_latency").Record(20 * time.Millisecond)
	h.Gauge("worker_task_slots_available").Update(7)
	// the same name with another label set is dropped, not a panic
	h.Counter("temporal_request").Inc(1)
	out := scrape(t, m)
	for _, want := range []string{
		`temporal_request{namespace="default",task_queue="sluice"} 3`,
		`temporal_activity_execution_latency_seconds_count{namespace="default"} 1`,
		`temporal_worker_task_slots_available{namespace="default"} 7`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %s:\n%s", want, out)
		}
	}
}
