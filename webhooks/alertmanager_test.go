package webhooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/contract"
)

// payload is a notification as Alertmanager 0.25 sends it (webhook
// payload version 4).
const payload = `{"receiver":"oncall","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HelloErrors","namespace":"hello","severity":"page"},"annotations":{"summary":"hello answers 5xx"},"startsAt":"2026-12-01T10:00:01.5Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus/graph","fingerprint":"a1b2c3"}],"groupLabels":{"alertname":"HelloErrors"},"commonLabels":{"alertname":"HelloErrors","severity":"page"},"commonAnnotations":{},"externalURL":"http://alertmanager:9093","version":"4","groupKey":"{}:{alertname=\"HelloErrors\"}","truncatedAlerts":0}`

type fakeDeliverer struct {
	got []contract.AlertNotification
	err error
}

func (f *fakeDeliverer) DeliverAlert(_ context.Context, n contract.AlertNotification) (int, error) {
	f.got = append(f.got, n)
	return 2, f.err
}

func TestAlertmanagerReceiver(t *testing.T) {
	const token = "0123456789abcdef-token"
	for name, tc := range map[string]struct {
		auth, body string
		deliverErr error
		code       int
	}{
		"delivered":        {"Bearer " + token, payload, nil, 200},
		"no token":         {"", payload, nil, 401},
		"wrong token":      {"Bearer " + strings.Repeat("x", len(token)), payload, nil, 401},
		"basic auth":       {"Basic " + token, payload, nil, 401},
		"not json":         {"Bearer " + token, "<html>", nil, 400},
		"other version":    {"Bearer " + token, strings.Replace(payload, `"version":"4"`, `"version":"3"`, 1), nil, 400},
		"temporal is away": {"Bearer " + token, payload, errors.New("unavailable"), 503},
		// under the body limit, but more than a signal may carry: never
		// deliverable, so not worth Alertmanager's retries
		"too many alerts": {"Bearer " + token, manyAlerts(4000), nil, 413},
	} {
		t.Run(name, func(t *testing.T) {
			d := &fakeDeliverer{err: tc.deliverErr}
			mux := http.NewServeMux()
			(&Alertmanager{Token: token, Deliver: d, Log: slog.New(slog.DiscardHandler)}).Register(mux)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/alertmanager", strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, b)
			}
			if (tc.code == 401 || tc.code == 413) && len(d.got) > 0 {
				t.Fatalf("a refused notification (%d) was delivered", tc.code)
			}
			if tc.code == 200 {
				if len(d.got) != 1 || d.got[0].Receiver != "oncall" || d.got[0].Alerts[0].Labels["alertname"] != "HelloErrors" || d.got[0].Alerts[0].StartsAt.IsZero() {
					t.Fatalf("delivered %+v", d.got)
				}
				if !strings.Contains(string(b), `"experiments":2`) {
					t.Errorf("answer %s", b)
				}
			}
		})
	}
}

// manyAlerts is a version-4 notification of n firing alerts.
func manyAlerts(n int) string {
	alerts := make([]string, n)
	for i := range alerts {
		alerts[i] = fmt.Sprintf(`{"status":"firing","labels":{"alertname":"HelloErrors","pod":"hello-%06d","namespace":"hello","severity":"page","instance":"10.244.0.%d:8080"},"startsAt":"2026-12-01T10:00:01.5Z"}`, i, i%250)
	}
	return `{"receiver":"oncall","status":"firing","version":"4","groupKey":"g","alerts":[` + strings.Join(alerts, ",") + `]}`
}
