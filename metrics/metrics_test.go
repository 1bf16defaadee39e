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

func TestDoraGauges(t *testing.T) {
	m := New()
	m.WatchDora(func() []DoraKeys {
		return []DoraKeys{{Project: "payments", Pipeline: "shop", Environment: "production", DeploymentsPerDay: 0.5, LeadTime: 90 * time.Minute, ChangeFailureRate: 0.25, TimeToRestore: time.Hour}}
	})
	out := scrape(t, m)
	for _, want := range []string{
		`sluice_dora_deployments_per_day{environment="production",pipeline="shop",project="payments"} 0.5`,
		`sluice_dora_lead_time_seconds{environment="production",pipeline="shop",project="payments"} 5400`,
		`sluice_dora_change_failure_rate{environment="production",pipeline="shop",project="payments"} 0.25`,
		`sluice_dora_time_to_restore_seconds{environment="production",pipeline="shop",project="payments"} 3600`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %s", want)
		}
	}
}
