package release

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// secretApp serves the value of its PAGE, which its manifest takes from
// the Secret every application names (environments.AppSecret).
func secretApp(t testing.TB, image string) []*unstructured.Unstructured {
	t.Helper()
	return objectsOf(t, []string{fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: web
          image: %s
          command: ["sh", "-c", "mkdir -p /www && echo \"$PAGE\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
          env:
            - name: PAGE
              valueFrom: {secretKeyRef: {name: %s, key: PAGE}}
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`, image, environments.AppSecret), webService})
}

// TestReleaseSecrets: each release gets a Secret of its own, owned by its
// record, holding the values it was given, and its application's
// references to sluice-secrets point at it: the app serves the first
// release's value, then the second's; a rollback to the first serves the
// first's again (its Secret kept with its record); a record deleted takes
// its Secret with it.
func TestReleaseSecrets(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	release := func(run, page string) *Record {
		t.Helper()
		rec, err := f.r.Release(ctx, Request{
			Pipeline: "web", Namespace: f.ns, Run: run, Commit: strings.Repeat(run[len(run)-1:], 40), Digest: "sha256:" + run,
			Strategy: pipelines.Rolling, Objects: secretApp(t, f.image), Secrets: map[string]string{"PAGE": page},
		}, &f.log)
		if err != nil {
			t.Fatalf("%s: %v\n%s", run, err, f.log.String())
		}
		return rec
	}
	v1 := release("run-1", "first-secret-page")
	if got := f.serves(t, "web", "first-secret-page"); got != "first-secret-page" {
		t.Fatalf("v1 serves %q\n%s", got, f.log.String())
	}
	sec, err := f.r.Cluster.Client.CoreV1().Secrets(f.ns).Get(ctx, v1.SecretName(), metav1.GetOptions{})
	if err != nil || len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].Name != recordName("web", v1.Version) || string(sec.Data["PAGE"]) != "first-secret-page" {
		t.Fatalf("v1's Secret %+v: %v", sec, err)
	}
	if strings.Contains(f.log.String(), "first-secret-page") || !strings.Contains(f.log.String(), "secrets: PAGE in Secret "+v1.SecretName()) {
		t.Fatalf("log:\n%s", f.log.String())
	}
	release("run-2", "second-secret-page")
	if got := f.serves(t, "web", "second-secret-page"); got != "second-secret-page" {
		t.Fatalf("v2 serves %q", got)
	}
	if _, err := f.r.Rollback(ctx, f.ns, "web", v1.Version, "rita", "", &f.log); err != nil {
		t.Fatalf("rollback: %v\n%s", err, f.log.String())
	}
	if got := f.serves(t, "web", "first-secret-page"); got != "first-secret-page" {
		t.Fatalf("after the rollback to v1 the app serves %q", got)
	}
	if err := f.r.Cluster.Client.CoreV1().ConfigMaps(f.ns).Delete(ctx, recordName("web", v1.Version), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.UntilWithin(t, time.Minute, "v1's Secret to go with its record", func() bool {
		_, err := f.r.Cluster.Client.CoreV1().Secrets(f.ns).Get(ctx, v1.SecretName(), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
