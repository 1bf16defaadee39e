package sdkmetrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/metrics"
)

func TestSDKHandler(t *testing.T) {
	m := metrics.New()
	h := New(m.Registry).WithTags(map[string]string{"namespace": "default"})
	h.WithTags(map[string]string{"task_queue": "sluice"}).Counter("temporal_request").Inc(3)
	h.Timer("temporal_activity_execution_latency").Record(20 * time.Millisecond)
	h.Gauge("worker_task_slots_available").Update(7)
	// the same name with another label set is dropped, not a panic
	h.Counter("temporal_request").Inc(1)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	out := rec.Body.String()
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
