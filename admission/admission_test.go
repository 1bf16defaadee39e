package admission

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/testenv/tlstest"
)

// cluster is the platform with the webhook installed for one namespace of
// the test's, which requires the test-result attestation.
type cluster struct {
	client   *kubernetes.Clientset
	ns       string
	webhook  *Webhook
	log      *testenv.SyncBuffer
	tested   string // signed, with a passed test result
	untested string // signed, without one
	unsigned string // the tested image's digest in a repository where nothing signed it
}

// images are the three images of the tests in the platform's registry,
// and the key that signed two of them.
func images(tb testing.TB) (signer *image.Signer, tested, untested, unsigned string) {
	tb.Helper()
	p := testenv.Require(tb)
	ctx := context.Background()
	signer, err := image.EnsureKeys(filepath.Join(tb.TempDir(), "signing.key"), []byte("pw"))
	if err != nil {
		tb.Fatal(err)
	}
	base := fmt.Sprintf("%s/sluice-test/admission-%d", p.Registry, time.Now().UnixNano())
	ref := func(repo, src string) string {
		if err := crane.Copy(src, repo+":x", crane.Insecure, crane.WithJobs(1)); err != nil {
			tb.Fatal(err)
		}
		d, err := image.Digest(ctx, repo, "x")
		if err != nil {
			tb.Fatal(err)
		}
		return repo + "@" + d
	}
	tested = ref(base+"/app", p.Registry+"/sluice/busybox:latest")
	untested = ref(base+"/other", p.Registry+"/sluice/pause:3.10")
	unsigned = ref(base+"/copy", p.Registry+"/sluice/busybox:latest")
	for _, img := range []string{tested, untested} {
		repo, digest, _ := strings.Cut(img, "@")
		if err := signer.Sign(ctx, repo, digest, strings.Repeat("c", 40)); err != nil {
			tb.Fatal(err)
		}
	}
	repo, digest, _ := strings.Cut(tested, "@")
	if err := signer.AttestTestResult(ctx, repo, digest, image.TestResult{Result: "PASSED"}); err != nil {
		tb.Fatal(err)
	}
	return signer, tested, untested, unsigned
}

func install(t *testing.T) *cluster {
	t.Helper()
	p := testenv.Require(t)
	ctx := context.Background()
	_, client := p.Connect(t)
	c := &cluster{client: client, ns: fmt.Sprintf("sluice-admission-%d", time.Now().UnixNano()%1_000_000_000), log: &testenv.SyncBuffer{}}

	var signer *image.Signer
	signer, c.tested, c.untested, c.unsigned = images(t)
	c.webhook = &Webhook{Verifier: signer.Verifier(), Attestations: map[string][]string{c.ns: {contract.AttestationTestResult}},
		Log: slog.New(slog.NewTextHandler(c.log, nil))}
	ca := tlstest.NewCA(t, "sluice-admission-ca")
	pair := ca.Issue(t, "webhook")
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /validate", c.webhook)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { srv.Close() })

	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns, Labels: map[string]string{"sluice.dev/admission-test": c.ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), c.ns, metav1.DeleteOptions{}) })
	caPEM, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://%s/validate", l.Addr())
	fail, none := admissionregv1.Fail, admissionregv1.SideEffectClassNone
	timeout := int32(10)
	cfg := &admissionregv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: c.ns},
		Webhooks: []admissionregv1.ValidatingWebhook{{
			Name:                    "images.sluice.dev",
			ClientConfig:            admissionregv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules:                   Rules(),
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"sluice.dev/admission-test": c.ns}},
		}},
	}
	if _, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// removed before the namespace (cleanups run last first)
	t.Cleanup(func() {
		_ = client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), c.ns, metav1.DeleteOptions{})
	})
	// the API server takes the configuration up within moments
	poll.Until(t, "the API server to call the webhook", func() bool {
		return c.apply(t, "probe", "busybox:latest", nil) != nil
	})
	return c
}

// apply creates, dry-run, a Deployment of img in the namespace, as
// `kubectl apply --dry-run=server` would; the admission chain runs in full.
func (c *cluster) apply(t *testing.T, name, img string, labels map[string]string) error {
	t.Helper()
	one := int32(1)
	sel := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: img}}}}},
	}
	_, err := c.client.AppsV1().Deployments(c.ns).Create(context.Background(), d, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// TestTheClusterRefusesWhatSluiceWouldNot: with the webhook installed for
// a namespace that requires the test-result attestation, the API server
// itself refuses a Deployment (and a bare Pod) whose image is a tag, a
// digest without this installation's signature, or a signed digest whose
// tests never passed, each naming what is missing; a tested digest is
// admitted, and so is an unsigned one under the break-glass label, which
// is logged with the user.
func TestTheClusterRefusesWhatSluiceWouldNot(t *testing.T) {
	c := install(t)
	for _, tc := range []struct {
		name, image, refused string
	}{
		{"by-tag", "registry.example.com/app:latest", "not named by digest"},
		{"unsigned", c.unsigned, "lacks this installation's signature"},
		{"untested", c.untested, "requires the test-result attestation"},
		{"tested", c.tested, ""},
	} {
		err := c.apply(t, tc.name, tc.image, nil)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), "sluice:")):
			t.Errorf("%s: got %v, want the API server to refuse it with %q", tc.name, err, tc.refused)
		}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: c.unsigned}}}}
	if _, err := c.client.CoreV1().Pods(c.ns).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil || !strings.Contains(err.Error(), "lacks this installation's signature") {
		t.Errorf("a bare Pod of an unsigned digest: %v", err)
	}
	if err := c.apply(t, "emergency", c.unsigned, map[string]string{LabelBreakGlass: "INC-4711"}); err != nil {
		t.Fatalf("under break-glass: %v", err)
	}
	if log := c.log.String(); !strings.Contains(log, "break-glass") || !strings.Contains(log, "INC-4711") || !strings.Contains(log, "user=") {
		t.Fatalf("the break-glass admission was not logged with its user and reason:\n%s", log)
	}
	// the tested digest again: from the cache, not the registry
	_, misses := c.webhook.CacheStats()
	if err := c.apply(t, "tested-again", c.tested, nil); err != nil {
		t.Fatal(err)
	}
	if hits, after := c.webhook.CacheStats(); hits == 0 || after != misses {
		t.Errorf("the tested digest again: %d hits, %d registry checks (was %d)", hits, after, misses)
	}
}
