package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/testenv"
)

// app is a stand-in application: busybox's httpd answering "page", with a
// Service, and (extra) a ConfigMap only some releases have.
func app(t testing.TB, image, page string, extra bool) []*unstructured.Unstructured {
	t.Helper()
	docs := []string{fmt.Sprintf(`
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
          command: ["sh", "-c", "mkdir -p /www && echo %s > /www/index.html && exec httpd -f -p 8080 -h /www"]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`, image, page), webService}
	if extra {
		docs = append(docs, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {k: v}\n")
	}
	return objectsOf(t, docs)
}

// webService routes to the app's pods.
const webService = `
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`

// objectsOf decodes YAML documents.
func objectsOf(t testing.TB, docs []string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

type fixture struct {
	r     *Releaser
	ns    string
	image string
	log   bytes.Buffer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	p := testenv.Require(t)
	c, err := (&environments.Clusters{Kubeconfig: p.Kubeconfig}).Context("")
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("sluice-release-test-%d", time.Now().UnixNano()%1_000_000_000)
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	return &fixture{r: &Releaser{Cluster: c}, ns: ns, image: p.Registry + "/sluice/busybox:latest"}
}

// release releases page as run with a verify that checks the page through
// the Service (or fails with exit 3 when broken).
func (f *fixture) release(t testing.TB, strategy, run, page string, extra, broken bool) (*Record, error) {
	t.Helper()
	// kube-proxy routes a new Service a moment after its endpoints are
	// ready: like any smoke test, the check retries its first connection.
	check := fmt.Sprintf(`for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- "$WEB_URL/" | grep -x %s && exit 0; sleep 1; done; exit 1`, page)
	if broken {
		check = "echo broken; exit 3"
	}
	return f.r.Release(context.Background(), Request{
		Pipeline: "web", Namespace: f.ns, Run: run, Commit: strings.Repeat(run[len(run)-1:], 40), Digest: "sha256:" + page,
		Strategy: strategy, Objects: app(t, f.image, page, extra),
		Verify: &Verify{Image: f.image, Commands: []string{`echo "verifying $SLUICE_RELEASE of $SLUICE_COMMIT"`, check}, Timeout: time.Minute},
	}, &f.log)
}

// serves is the page the Service routes to, asked from inside the cluster:
// want, once kube-proxy has caught up, or the last page seen.
func (f *fixture) serves(t testing.TB, svc, want string) string {
	t.Helper()
	s, err := f.r.Cluster.Client.CoreV1().Services(f.ns).Get(context.Background(), svc, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := f.r.Cluster.RunSuite(context.Background(), f.ns, "probe", environments.Suite{
		Name: "probe", Image: f.image, Commands: []string{fmt.Sprintf("for i in 1 2 3 4 5 6 7 8 9 10; do p=$(wget -qO- http://%s:%d/ 2>/dev/null || true); [ \"$p\" = %s ] && break; sleep 1; done; echo \"$p\"", s.Spec.ClusterIP, s.Spec.Ports[0].Port, want)},
	}, &out)
	if err != nil || !res.Passed {
		t.Fatalf("probe %s: %v %+v\n%s", svc, err, res, out.String())
	}
	return strings.TrimSpace(out.String())
}

func (f *fixture) states(t testing.TB) string {
	t.Helper()
	all, err := f.r.List(context.Background(), f.ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, r := range all {
		s = append(s, fmt.Sprintf("v%d:%s", r.Version, r.State))
	}
	return strings.Join(s, " ")
}

func (f *fixture) exists(kind, name string) bool {
	ctx := context.Background()
	var err error
	switch kind {
	case "deployment":
		_, err = f.r.Cluster.Client.AppsV1().Deployments(f.ns).Get(ctx, name, metav1.GetOptions{})
	case "service":
		_, err = f.r.Cluster.Client.CoreV1().Services(f.ns).Get(ctx, name, metav1.GetOptions{})
	case "configmap":
		_, err = f.r.Cluster.Client.CoreV1().ConfigMaps(f.ns).Get(ctx, name, metav1.GetOptions{})
	}
	return !apierrors.IsNotFound(err)
}

// TestRollingReleases: releases replace each other; a failed verify puts
// the previous release back; a run's undo brings back what it replaced
// (and prunes what only it had), twice is harmless; a rollback is a new
// release with the old one's objects.
func TestRollingReleases(t *testing.T) {
	f := newFixture(t)
	if _, err := f.release(t, pipelines.Rolling, "run-1", "one", false, false); err != nil {
		t.Fatalf("%v\n%s", err, f.log.String())
	}
	if _, err := f.release(t, pipelines.Rolling, "run-2", "two", true, false); err != nil {
		t.Fatalf("%v\n%s", err, f.log.String())
	}
	if got := f.states(t); got != "v1:superseded v2:live" {
		t.Fatalf("states %s", got)
	}
	if got := f.serves(t, "web", "two"); got != "two" || !f.exists("configmap", "extra") {
		t.Fatalf("serves %q", got)
	}
	if !strings.Contains(f.log.String(), "verifying 2 of 2222") {
		t.Fatalf("verify did not get the release's variables:\n%s", f.log.String())
	}

	rec, err := f.release(t, pipelines.Rolling, "run-3", "three", false, true)
	if !errors.Is(err, ErrVerifyFailed) || rec.Previous != 2 {
		t.Fatalf("a broken verify: %v %+v", err, rec)
	}
	if got := f.states(t); got != "v1:superseded v2:live v3:rolled-back" {
		t.Fatalf("states %s", got)
	}
	if got := f.serves(t, "web", "two"); got != "two" || !f.exists("configmap", "extra") {
		t.Fatalf("after the failed verify the app serves %q (want two, with its ConfigMap)", got)
	}
	if _, err := f.release(t, pipelines.Rolling, "run-3", "three", false, false); !errors.Is(err, ErrRolledBack) {
		t.Fatalf("releasing a rolled-back run again: %v", err)
	}

	ctx := context.Background()
	for range 2 {
		if err := f.r.Undo(ctx, f.ns, "web", "run-2", "run-2 failed later", &f.log); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.states(t); got != "v1:live v2:rolled-back v3:rolled-back" {
		t.Fatalf("states after undo %s", got)
	}
	if got := f.serves(t, "web", "one"); got != "one" || f.exists("configmap", "extra") {
		t.Fatalf("after undo the app serves %q, extra ConfigMap kept: %v", got, f.exists("configmap", "extra"))
	}
	if err := f.r.Undo(ctx, f.ns, "web", "run-9", "never released", &f.log); err != nil {
		t.Fatalf("undo of a run without a release: %v", err)
	}

	if _, err := f.r.Rollback(ctx, f.ns, "web", 0, "alice", "rollback-a", &f.log); !errors.Is(err, ErrNoRelease) {
		t.Fatalf("rollback from the first release: %v", err)
	}
	rec, err = f.r.Rollback(ctx, f.ns, "web", 2, "alice", "rollback-b", &f.log)
	if err != nil || rec.Version != 4 || rec.RollbackOf != 2 || rec.Commit != strings.Repeat("2", 40) || rec.RolledBackBy != "alice" {
		t.Fatalf("rollback to v2: %+v %v", rec, err)
	}
	// asked again for the same run (a retried activity), the rollback
	// returns the release it made instead of making another
	if again, err := f.r.Rollback(ctx, f.ns, "web", 2, "alice", "rollback-b", &f.log); err != nil || again.Version != 4 {
		t.Fatalf("the same rollback again: %+v %v", again, err)
	}
	if got := f.states(t); got != "v1:superseded v2:rolled-back v3:rolled-back v4:live" {
		t.Fatalf("states after rollback %s", got)
	}
	if got := f.serves(t, "web", "two"); got != "two" || !f.exists("configmap", "extra") {
		t.Fatalf("after rollback to v2 the app serves %q", got)
	}
	// Releasing v1's objects over v2's prunes what only v2 had.
	if rec, err = f.r.Rollback(ctx, f.ns, "web", 1, "alice", "rollback-c", &f.log); err != nil || rec.Version != 5 {
		t.Fatalf("rollback to v1: %+v %v", rec, err)
	}
	if f.exists("configmap", "extra") {
		t.Fatal("a release kept an object the release it replaced had and it has not")
	}

	// A first release undone leaves nothing behind.
	g := newFixture(t)
	if _, err := g.release(t, pipelines.Rolling, "run-1", "one", true, true); !errors.Is(err, ErrVerifyFailed) {
		t.Fatalf("first release, broken verify: %v", err)
	}
	if g.exists("deployment", "web") || g.exists("service", "web") || g.exists("configmap", "extra") {
		t.Fatal("a first release that failed verify left objects behind")
	}
}

// TestBlueGreenReleases: the new color runs beside the live one and is
// verified through its preview before any traffic moves; a failed verify
// never switches; the replaced color is retired on request; a run's undo
// switches traffic back (scaling the old color up again).
func TestBlueGreenReleases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rec, err := f.release(t, pipelines.BlueGreen, "run-1", "one", false, false)
	if err != nil || rec.Color != Blue {
		t.Fatalf("%+v %v\n%s", rec, err, f.log.String())
	}
	rec, err = f.release(t, pipelines.BlueGreen, "run-2", "two", false, false)
	if err != nil || rec.Color != Green {
		t.Fatalf("%+v %v\n%s", rec, err, f.log.String())
	}
	if got := f.serves(t, "web", "two"); got != "two" {
		t.Fatalf("after the switch web serves %q", got)
	}
	if !f.exists("deployment", "web-blue") || !f.exists("deployment", "web-green") {
		t.Fatal("both colors should run during the grace period")
	}
	if err := f.r.Retire(ctx, f.ns, "web", "run-2", &f.log); err != nil {
		t.Fatal(err)
	}
	blue, err := f.r.Cluster.Client.AppsV1().Deployments(f.ns).Get(ctx, "web-blue", metav1.GetOptions{})
	if err != nil || *blue.Spec.Replicas != 0 {
		t.Fatalf("the replaced color was not scaled to zero: %v", err)
	}

	// v3 goes to blue, fails its verify: traffic never leaves green.
	if _, err := f.release(t, pipelines.BlueGreen, "run-3", "three", false, true); !errors.Is(err, ErrVerifyFailed) {
		t.Fatalf("broken verify: %v", err)
	}
	if got := f.serves(t, "web", "two"); got != "two" {
		t.Fatalf("a failed verify moved traffic: web serves %q", got)
	}
	if f.exists("deployment", "web-blue") || f.exists("service", "web-preview") {
		t.Fatal("the failed color or its preview was left behind")
	}

	// run-2 fails after its release: traffic goes back to v1's color.
	if err := f.r.Undo(ctx, f.ns, "web", "run-2", "run-2 failed later", &f.log); err != nil {
		t.Fatalf("%v\n%s", err, f.log.String())
	}
	if got := f.serves(t, "web", "one"); got != "one" {
		t.Fatalf("after the switch back web serves %q", got)
	}
	if got := f.states(t); got != "v1:live v2:rolled-back v3:rolled-back" {
		t.Fatalf("states %s", got)
	}
	if f.exists("deployment", "web-green") {
		t.Fatal("the undone color is still there")
	}
}
