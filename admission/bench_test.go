package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/testenv/benchq"
)

// BenchmarkAdmission: the webhook's decision on a Pod of a signed, tested
// digest in a namespace that requires the test result, as the API server
// waits for it on every pod a Deployment makes: with its cache (the
// digest checked at the platform's registry once per 10 minutes) against
// without (every pod's digest checked at the registry: signature and
// attestation). p50 and p99 in ms, and the cache's hit ratio.
func BenchmarkAdmission(b *testing.B) {
	signer, tested, _, _ := images(b)
	pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":%q}]}}`, tested)
	req := &admissionv1.AdmissionRequest{UID: types.UID("u"), Namespace: "prod", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: json.RawMessage(pod)}}
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			wh := &Webhook{Verifier: signer.Verifier(), Attestations: map[string][]string{"prod": {contract.AttestationTestResult}}}
			if !cached {
				wh.TTL = time.Nanosecond
			}
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				if resp := wh.Review(context.Background(), req); !resp.Allowed {
					b.Fatalf("refused: %v", resp.Result)
				}
				ds = append(ds, time.Since(start))
			}
			b.ReportMetric(benchq.Millis(ds, 0.5), "ms-p50")
			b.ReportMetric(benchq.Millis(ds, 0.99), "ms-p99")
			hits, misses := wh.CacheStats()
			b.ReportMetric(float64(hits)/float64(hits+misses), "hit-ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}
