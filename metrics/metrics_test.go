package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
