package environments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestSetupAndSweep makes test environments the way deploy does (labels,
// expiry, quota, limits, isolation) and sweeps them: only an expired one
// whose run is gone is deleted; a running run's, an unexpired one and one
// whose run Temporal could not be asked about stay; a namespace stuck
// terminating is reported with what blocks it.
func TestSetupAndSweep(t *testing.T) {
	_, c := testCluster(t)
	ctx := context.Background()
	base := fmt.Sprintf("sluice-sweep-%d", time.Now().UnixNano()%1_000_000_000)
	envs := map[string]time.Duration{"gone": time.Hour, "alive": time.Hour, "unknown": time.Hour, "fresh": 5 * time.Hour}
	for run, ttl := range envs {
		ns := base + "-" + run
		t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		err := c.Setup(ctx, Env{Namespace: ns, Pipeline: "hello", Workflow: "pipeline/acme/hello:main", Run: run, Commit: "abc", TTL: ttl, CPU: "2", Memory: "1Gi"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Setup(ctx, Env{Namespace: base + "-gone", Run: "other"}, io.Discard); err == nil {
		t.Fatal("another run took over an environment")
	}
	ns, err := c.Client.CoreV1().Namespaces().Get(ctx, base+"-gone", metav1.GetOptions{})
	if err != nil || ns.Labels[LabelPipeline] != "hello" || ns.Annotations[AnnotationWorkflow] != "pipeline/acme/hello:main" || ns.Annotations[AnnotationExpires] == "" {
		t.Fatalf("namespace metadata: %v %v", ns.ObjectMeta, err)
	}
	refusesPrivilegedPods(t, c, base+"-gone")
	q, err := c.Client.CoreV1().ResourceQuotas(base+"-gone").Get(ctx, "sluice-quota", metav1.GetOptions{})
	if err != nil || q.Spec.Hard.Name("limits.cpu", "").String() != "2" || q.Spec.Hard.Name("limits.memory", "").String() != "1Gi" {
		t.Fatalf("quota: %v %v", q.Spec.Hard, err)
	}
	lr, err := c.Client.CoreV1().LimitRanges(base+"-gone").Get(ctx, "sluice-limits", metav1.GetOptions{})
	if err != nil || lr.Spec.Limits[0].Default.Cpu().String() != "500m" {
		t.Fatalf("limit range: %v %v", lr, err)
	}
	if _, err := c.Client.NetworkingV1().NetworkPolicies(base+"-gone").Get(ctx, "sluice-same-namespace", metav1.GetOptions{}); err != nil {
		t.Fatalf("network policy: %v", err)
	}

	// A namespace stuck terminating behind a finalizer.
	stuck := base + "-stuck"
	if err := c.Setup(ctx, Env{Namespace: stuck, Run: "stuck"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"metadata":{"finalizers":["sluice.dev/test-blocker"]}}`)
	if _, err := c.Client.CoreV1().Namespaces().Patch(ctx, stuck, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.Client.CoreV1().Namespaces().Patch(context.Background(), stuck, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, stuck, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	var asked []string
	s := &Sweeper{Cluster: c, Now: func() time.Time { return time.Now().Add(2 * time.Hour) },
		Running: func(_ context.Context, wf, run string) (bool, error) {
			if !strings.HasPrefix(run, "gone") && !strings.HasPrefix(run, "alive") && !strings.HasPrefix(run, "unknown") {
				return true, nil // other tests' environments: kept
			}
			asked = append(asked, run)
			switch run {
			case "alive":
				return true, nil
			case "unknown":
				return false, errors.New("temporal unreachable")
			}
			return false, nil
		}}
	res, err := s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Deleted, base+"-gone") {
		t.Fatalf("the lost run's expired environment was not deleted: %+v", res)
	}
	for _, keep := range []string{"alive", "unknown", "fresh"} {
		if slices.Contains(res.Deleted, base+"-"+keep) {
			t.Errorf("deleted the %s environment", keep)
		}
		if got, err := c.Client.CoreV1().Namespaces().Get(ctx, base+"-"+keep, metav1.GetOptions{}); err != nil || got.DeletionTimestamp != nil {
			t.Errorf("the %s environment is going: %v", keep, err)
		}
	}
	if slices.Contains(asked, "fresh") {
		t.Error("asked Temporal about an environment that has not expired")
	}
	if got, err := c.Client.CoreV1().Namespaces().Get(ctx, base+"-gone", metav1.GetOptions{}); !apierrors.IsNotFound(err) && (err != nil || got.DeletionTimestamp == nil) {
		t.Fatalf("the swept environment is not being deleted: %v", err)
	}
	if why := res.Stuck[stuck]; !strings.Contains(why, "sluice.dev/test-blocker") {
		t.Fatalf("stuck namespace not reported with its finalizer: %q (%v)", why, res.Stuck)
	}
}

// TestServicesStartRealDatabases starts the platform's Redis and
// PostgreSQL (built from Debian's packages) as a test environment's
// services: each is waited for until it accepts connections and is
// routed, and a pod next to them talks to Redis.
func TestServicesStartRealDatabases(t *testing.T) {
	p, c := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("sluice-services-%d", time.Now().UnixNano()%1_000_000_000)
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := c.Setup(ctx, Env{Namespace: ns, Run: "run-1", CPU: "2", Memory: "2Gi"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	err := c.StartServices(ctx, ns, "run-1", []Service{
		{Name: "redis", Image: p.Registry + "/sluice/redis:latest", Ports: []int{6379}},
		{Name: "postgres", Image: p.Registry + "/sluice/postgres:latest", Ports: []int{5432}, Env: map[string]string{"POSTGRES_USER": "app"}},
	}, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, want := range []string{"service redis ready at redis:6379", "service postgres ready at postgres:5432"} {
		if !strings.Contains(log.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, log.String())
		}
	}
	var out strings.Builder
	res, err := c.RunSuite(ctx, ns, "run-1", Suite{Name: "talk", Image: p.Registry + "/sluice/busybox:latest", Commands: []string{
		`for i in 1 2 3 4 5; do printf 'PING\r\n' | nc -w 2 "$REDIS_SERVICE_HOST" 6379 | grep PONG && exit 0; sleep 1; done; exit 1`,
	}}, &out)
	if err != nil || !res.Passed {
		t.Fatalf("talking to redis: %v %+v\n%s", err, res, out.String())
	}
}
