package environments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/testenv"
)

func TestManifestsGetTheBakedDigest(t *testing.T) {
	objs, err := ReadManifests("../examples/hello/deploy/k8s")
	if err != nil {
		t.Fatal(err)
	}
	if n := SetImage(objs, "127.0.0.1:5000/sluice-demo/hello", "sha256:abc"); n != 1 {
		t.Fatalf("replaced %d images, want 1", n)
	}
	cs, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "template", "spec", "containers")
	if got := cs[0].(map[string]any)["image"]; got != "127.0.0.1:5000/sluice-demo/hello@sha256:abc" {
		t.Fatalf("image %v", got)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ns.yaml"), []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"), 0o644)
	if _, err := ReadManifests(dir); err == nil || !strings.Contains(err.Error(), "Namespace") {
		t.Fatalf("a Namespace manifest: %v", err)
	}
	if _, err := ReadManifests(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no manifests") {
		t.Fatalf("an empty directory: %v", err)
	}
}

// TestEnvironmentOnTheCluster makes a run's namespace, applies manifests
// with a digest in place of their image, waits for the rollout, runs a
// passing and a failing suite next to it (the suite reaches the app through
// its Service), and deletes the namespace — but never one of another run.
func TestEnvironmentOnTheCluster(t *testing.T) {
	p, c := testCluster(t)
	ctx := context.Background()
	busybox := p.Registry + "/sluice/busybox"
	digest, err := image.Digest(ctx, busybox, "latest")
	if err != nil {
		t.Fatal(err)
	}
	ns, run := fmt.Sprintf("sluice-env-test-%d", time.Now().UnixNano()%1_000_000_000), "run-1"
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := c.EnsureNamespace(ctx, ns, run); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureNamespace(ctx, ns, run); err != nil {
		t.Fatalf("a retried attempt: %v", err)
	}
	if err := c.EnsureNamespace(ctx, ns, "run-2"); err == nil {
		t.Fatal("another run took over the namespace")
	}
	refusesPrivilegedPods(t, c, ns)
	objs, err := ReadManifests("testdata/web")
	if err != nil {
		t.Fatal(err)
	}
	objs[0].SetNamespace("elsewhere") // the environment's namespace wins
	if SetImage(objs, busybox, digest) != 1 {
		t.Fatal("the manifest's busybox image was not replaced")
	}
	var log bytes.Buffer
	if err := c.Apply(ctx, ns, run, objs, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "deployment/web available") {
		t.Fatalf("log:\n%s", log.String())
	}
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != busybox+"@"+digest || d.Labels[LabelRun] != run {
		t.Fatalf("deployment: %v %v", d, err)
	}
	log.Reset()
	res, err := c.RunSuite(ctx, ns, run, Suite{Name: "integration", Image: busybox + ":latest", Commands: []string{
		// kube-proxy may route a new Service the old way for a moment (a
		// reused cluster IP): a suite retries its first connection
		`for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- "http://$WEB_SERVICE_HOST:$WEB_SERVICE_PORT/" 2>/dev/null | grep served-by-web && break; sleep 1; done`,
		`echo "env $SLUICE_ENVIRONMENT $GREETING"`,
	}, Env: map[string]string{"GREETING": "hi"}}, &log)
	if err != nil || !res.Passed || !strings.Contains(log.String(), "served-by-web") || !strings.Contains(log.String(), "env "+ns+" hi") {
		t.Fatalf("suite: %+v %v\n%s", res, err, log.String())
	}
	res, err = c.RunSuite(ctx, ns, run, Suite{Name: "integration", Image: busybox + ":latest", Commands: []string{"echo checking", "exit 4", "echo not reached"}}, &log)
	if err != nil || res.Passed || res.ExitCode != 4 || strings.Contains(log.String(), "not reached") {
		t.Fatalf("failing suite: %+v %v\n%s", res, err, log.String())
	}
	if err := c.DeleteNamespace(ctx, ns, "run-2"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("another run deleted the namespace: %v", err)
	}
	if err := c.DeleteNamespace(ctx, ns, run); err != nil {
		t.Fatal(err)
	}
	got, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) && (err != nil || got.DeletionTimestamp == nil) {
		t.Fatalf("namespace not being deleted: %v", err)
	}
	if err := c.DeleteNamespace(ctx, ns, run); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
}

// TestRolloutFailsFast: a Deployment whose image cannot be pulled, or
// whose container crashes on start, fails the rollout with ErrCannotRun and
// the reason (a crash with the container's last output) instead of waiting
// for the timeout; a healthy Deployment beside them in the same namespace
// is not blamed.
func TestRolloutFailsFast(t *testing.T) {
	p, c := testCluster(t)
	ns, run := fmt.Sprintf("sluice-failfast-%d", time.Now().UnixNano()%1_000_000_000), "run-1"
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.EnsureNamespace(ctx, ns, run); err != nil {
		t.Fatal(err)
	}
	deployment := func(name, image, command string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name},
			"spec": map[string]any{
				"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": name}},
					"spec": map[string]any{"terminationGracePeriodSeconds": int64(0), "containers": []any{map[string]any{
						"name": "c", "image": image, "command": []any{"sh", "-c", command},
						"readinessProbe": map[string]any{"exec": map[string]any{"command": []any{"true"}}, "periodSeconds": int64(1)},
					}}},
				},
			},
		}}
	}
	busybox := p.Registry + "/sluice/busybox:latest"
	var log bytes.Buffer
	if err := c.Apply(ctx, ns, run, []*unstructured.Unstructured{deployment("fine", busybox, "exec sleep 3600")}, &log); err != nil {
		t.Fatalf("healthy deployment: %v", err)
	}
	cases := []struct{ name, image, command, want string }{
		{"no-image", p.Registry + "/sluice/no-such-image:1", "true", "ErrImagePull"},
		// crashes before its readiness probe ever passes, as an app that
		// cannot reach its database does
		{"crash", busybox, "echo connecting to the database failed; exit 3", "connecting to the database failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := c.Apply(ctx, ns, run, []*unstructured.Unstructured{deployment(tc.name, tc.image, tc.command)}, &log)
			if !errors.Is(err, ErrCannotRun) || !strings.Contains(err.Error(), "pod "+tc.name) {
				t.Fatalf("want ErrCannotRun naming the pod, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) && !(tc.want == "ErrImagePull" && strings.Contains(err.Error(), "ImagePullBackOff")) {
				t.Fatalf("error lacks %q: %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "pod fine") {
				t.Fatalf("a healthy deployment was blamed: %v", err)
			}
			t.Logf("%s failed after %s: %v", tc.name, time.Since(start).Round(100*time.Millisecond), err)
		})
	}
	// a pod the namespace's Pod Security level forbids is never created:
	// the ReplicaSet's FailedCreate says why, at once, not at the timeout
	// (the guard refuses such a pod before applying it; here the policy
	// lets it through and the cluster's admission does not)
	t.Run("forbidden", func(t *testing.T) {
		d := deployment("forbidden", busybox, "exec sleep 3600")
		if err := unstructured.SetNestedField(d.Object, true, "spec", "template", "spec", "hostNetwork"); err != nil {
			t.Fatal(err)
		}
		ctx := deploy.WithGuard(ctx, contract.Guard{PodSecurity: contract.PodPrivileged})
		err := c.Apply(ctx, ns, run, []*unstructured.Unstructured{d}, &log)
		if !errors.Is(err, ErrCannotRun) || !strings.Contains(err.Error(), "violates PodSecurity") || !strings.Contains(err.Error(), "hostNetwork") {
			t.Fatalf("want ErrCannotRun naming the Pod Security violation, got %v", err)
		}
	})
}

// TestWorkloadsOtherThanDeployments: StatefulSets and Jobs among the
// manifests are waited for too (ready; complete), and a failing Job fails
// the rollout with ErrCannotRun.
func TestWorkloadsOtherThanDeployments(t *testing.T) {
	p, c := testCluster(t)
	ns, run := fmt.Sprintf("sluice-workloads-%d", time.Now().UnixNano()%1_000_000_000), "run-1"
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.EnsureNamespace(ctx, ns, run); err != nil {
		t.Fatal(err)
	}
	busybox := p.Registry + "/sluice/busybox:latest"
	pod := func(command string) map[string]any {
		return map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": "w"}},
			"spec": map[string]any{"terminationGracePeriodSeconds": int64(0), "restartPolicy": "Never", "containers": []any{map[string]any{
				"name": "c", "image": busybox, "command": []any{"sh", "-c", command},
			}}},
		}
	}
	sts := pod("exec sleep 3600")
	sts["spec"].(map[string]any)["restartPolicy"] = "Always"
	objs := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "db"},
			"spec": map[string]any{"serviceName": "db", "selector": map[string]any{"matchLabels": map[string]any{"app": "w"}}, "template": sts}}},
		{Object: map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"name": "migrate"},
			"spec": map[string]any{"backoffLimit": int64(0), "template": pod("echo migrated")}}},
	}
	var log bytes.Buffer
	if err := c.Apply(ctx, ns, run, objs, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, want := range []string{"statefulset/db available", "job/migrate complete"} {
		if !strings.Contains(log.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, log.String())
		}
	}
	failing := []*unstructured.Unstructured{{Object: map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"name": "broken"},
		"spec": map[string]any{"backoffLimit": int64(0), "template": pod("echo cannot migrate; exit 2")}}}}
	if err := c.Apply(ctx, ns, run, failing, &log); !errors.Is(err, ErrCannotRun) || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("a failing job: %v", err)
	}
}

// testCluster is the local platform and its cluster, or the end of the
// test (see testenv.Require).
func testCluster(tb testing.TB) (*testenv.Platform, *Cluster) {
	tb.Helper()
	p := testenv.Require(tb)
	rc, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := NewCluster(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return p, c
}

// TestApplyReportsConflicts: a field another manager changed since (here
// replicas, as `kubectl scale` would) is reported in the log, then the
// commit's version wins.
func TestApplyReportsConflicts(t *testing.T) {
	p, c := testCluster(t)
	ctx := context.Background()
	ns, run := fmt.Sprintf("sluice-conflict-%d", time.Now().UnixNano()%1_000_000_000), "run-1"
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := c.EnsureNamespace(ctx, ns, run); err != nil {
		t.Fatal(err)
	}
	objs, err := ReadManifests("testdata/web")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			cs[0].(map[string]any)["image"] = p.Registry + "/sluice/busybox:latest"
			_ = unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", "containers")
		}
	}
	var log bytes.Buffer
	if _, err := c.ApplyObjects(ctx, ns, nil, objs, &log); err != nil {
		t.Fatal(err)
	}
	force := true
	scale := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}}`)
	if _, err := c.Client.AppsV1().Deployments(ns).Patch(ctx, "web", types.ApplyPatchType, scale, metav1.PatchOptions{FieldManager: "someone-else", Force: &force}); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if _, err := c.ApplyObjects(ctx, ns, nil, objs, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "conflict: deployment/web") || !strings.Contains(log.String(), "someone-else") {
		t.Fatalf("the conflict was not reported:\n%s", log.String())
	}
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 1 {
		t.Fatalf("the commit's replicas did not win: %v", err)
	}
}

// TestSuiteThatCannotBeScheduledFailsFast: a suite whose pod fits nowhere
// (the namespace's limits ask for more CPU than the cluster has) fails at
// once, saying why, instead of waiting for the phase's timeout.
func TestSuiteThatCannotBeScheduledFailsFast(t *testing.T) {
	p, c := testCluster(t)
	ctx := context.Background()
	ns := fmt.Sprintf("sluice-unsched-%d", time.Now().UnixNano()%1_000_000_000)
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := c.EnsureNamespace(ctx, ns, "run-1"); err != nil {
		t.Fatal(err)
	}
	huge := resource.MustParse("500")
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "huge"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer, DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: huge}, Default: corev1.ResourceList{corev1.ResourceCPU: huge},
	}}}}
	if _, err := c.Client.CoreV1().LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.RunSuite(ctx, ns, "run-1", Suite{Name: "it", Image: p.Registry + "/sluice/busybox:latest", Commands: []string{"true"}}, &bytes.Buffer{})
	if !errors.Is(err, ErrCannotRun) || !strings.Contains(err.Error(), "Unschedulable") {
		t.Fatalf("want ErrCannotRun naming Unschedulable, got %v", err)
	}
	t.Logf("failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

// TestSuiteJUnitReport: the report the suite's commands write comes back
// (also when a command failed), and stays out of the run log.
func TestSuiteJUnitReport(t *testing.T) {
	p, c := testCluster(t)
	ctx := context.Background()
	ns := fmt.Sprintf("sluice-junit-%d", time.Now().UnixNano()%1_000_000_000)
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := c.EnsureNamespace(ctx, ns, "run-1"); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res, err := c.RunSuite(ctx, ns, "run-1", Suite{Name: "it", Image: p.Registry + "/sluice/busybox:latest", JUnit: "/tmp/report.xml", Commands: []string{
		`echo '<testsuite tests="3" failures="1"><testcase name="a"/></testsuite>' > /tmp/report.xml`,
		"echo checking the app",
		"exit 1",
	}}, &log)
	if err != nil || res.Passed {
		t.Fatalf("%+v %v", res, err)
	}
	if !bytes.Contains(res.Report, []byte(`<testsuite tests="3" failures="1">`)) {
		t.Fatalf("report %q", res.Report)
	}
	if !strings.Contains(log.String(), "checking the app") || strings.Contains(log.String(), "testsuite") || strings.Contains(log.String(), reportBegin) {
		t.Fatalf("run log:\n%s", log.String())
	}
}

// TestSuiteRunsOncePerRun: with Resume, an attempt that finds the Job an
// earlier attempt of its run started for the same suite (its worker was
// lost) follows it and reports its end instead of running the suite again;
// without Resume, or for another suite of the same name, it runs anew.
func TestSuiteRunsOncePerRun(t *testing.T) {
	p, c := testCluster(t)
	ctx := context.Background()
	ns := fmt.Sprintf("sluice-suite-once-%d", time.Now().UnixNano()%1_000_000_000)
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := c.EnsureNamespace(ctx, ns, "run-1"); err != nil {
		t.Fatal(err)
	}
	suite := Suite{Name: "it", Image: p.Registry + "/sluice/busybox:latest", Commands: []string{"echo suite ran", "exit 3"}, Resume: true}
	job := func() string {
		j, err := c.Client.BatchV1().Jobs(ns).Get(ctx, "it", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return string(j.UID)
	}
	var log bytes.Buffer
	first, err := c.RunSuite(ctx, ns, "run-1", suite, &log)
	if err != nil || first.Passed || first.ExitCode != 3 {
		t.Fatalf("%+v %v", first, err)
	}
	uid := job()
	log.Reset()
	again, err := c.RunSuite(ctx, ns, "run-1", suite, &log)
	if err != nil || again.Passed || again.ExitCode != 3 || job() != uid || !strings.Contains(log.String(), "following job/it") || !strings.Contains(log.String(), "suite ran") {
		t.Fatalf("the second attempt did not follow the first's Job: %+v %v (job %s, was %s)\n%s", again, err, job(), uid, log.String())
	}
	// without Resume, the same suite runs again
	log.Reset()
	suite.Resume = false
	if res, err := c.RunSuite(ctx, ns, "run-1", suite, &log); err != nil || res.ExitCode != 3 || job() == uid || strings.Contains(log.String(), "following") {
		t.Fatalf("without Resume: %+v %v\n%s", res, err, log.String())
	}
	uid = job()
	log.Reset()
	suite.Resume = true
	suite.Commands = []string{"echo another suite"}
	other, err := c.RunSuite(ctx, ns, "run-1", suite, &log)
	if err != nil || !other.Passed || job() == uid || !strings.Contains(log.String(), "another suite") {
		t.Fatalf("another suite of the same name: %+v %v\n%s", other, err, log.String())
	}
}

// refusesPrivilegedPods: a test environment's namespace admits no pod that
// Pod Security "baseline" forbids (a privileged container on the host's
// network), asked as a dry run.
func refusesPrivilegedPods(t *testing.T, c *Cluster, ns string) {
	t.Helper()
	yes := true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged"}, Spec: corev1.PodSpec{
		HostNetwork: true,
		Containers:  []corev1.Container{{Name: "c", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: &yes}}},
	}}
	_, err := c.Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "baseline") {
		t.Fatalf("a privileged pod in the test environment %s: %v, want refused by Pod Security baseline", ns, err)
	}
}

// TestGuardWithAnAdministratorsKubeconfig: with the platform's
// administrator kubeconfig, in a test environment, staging and production
// alike, what would leave the environment's namespace or reach the node is
// refused before anything of its manifests is applied — the ConfigMap
// listed first never appears — and the refusal is ErrRefused, which no
// retry changes: another namespace than the environment's, kube-system, a
// privileged, hostPath or hostNetwork pod, a RoleBinding to cluster-admin,
// a Service with externalIPs (CVE-2020-8554), and the cluster-scoped kinds.
func TestGuardWithAnAdministratorsKubeconfig(t *testing.T) {
	_, c := testCluster(t)
	ctx := context.Background()
	suffix := time.Now().UnixNano() % 1_000_000_000
	testNS, stagingNS, prodNS := fmt.Sprintf("sluice-guard-%d", suffix), fmt.Sprintf("guard-staging-%d", suffix), fmt.Sprintf("guard-prod-%d", suffix)
	for _, ns := range []string{testNS, stagingNS, prodNS} {
		t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	}
	if err := c.EnsureNamespace(ctx, testNS, "run-1"); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{stagingNS, prodNS} {
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(spec string) string {
		return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{` + spec + `}}`
	}
	hostile := map[string]string{
		"privileged":  pod(`"containers":[{"name":"c","image":"busybox","securityContext":{"privileged":true}}]`),
		"hostPath":    pod(`"containers":[{"name":"c","image":"busybox"}],"volumes":[{"name":"root","hostPath":{"path":"/"}}]`),
		"hostNetwork": pod(`"hostNetwork":true,"containers":[{"name":"c","image":"busybox"}]`),
		"rolebinding-cluster-admin": `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"own-the-namespace"},` +
			`"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"ServiceAccount","name":"default"}]}`,
		"externalIPs": `{"apiVersion":"v1","kind":"Service","metadata":{"name":"steal"},"spec":{"ports":[{"port":80}],"externalIPs":["10.96.0.1"]}}`,
		"clusterrolebinding": `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"own-the-cluster"},` +
			`"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"ServiceAccount","name":"default","namespace":"x"}]}`,
		"crd": `{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"things.evil.example"},` +
			`"spec":{"group":"evil.example","names":{"kind":"Thing","plural":"things"},"scope":"Namespaced","versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object"}}}]}}`,
		"validatingwebhook": `{"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingWebhookConfiguration","metadata":{"name":"intercept"},"webhooks":[]}`,
	}
	environments := []struct {
		name, ns string
		guard    contract.Guard
	}{
		{"test", testNS, contract.Guard{}},
		{"staging", stagingNS, contract.Guard{Namespaces: []string{stagingNS}}},
		{"production", prodNS, contract.Guard{Namespaces: []string{prodNS}, PodSecurity: contract.PodRestricted}},
	}
	for _, env := range environments {
		ctx := deploy.WithGuard(ctx, env.guard)
		apply := func(t *testing.T, ns, first, doc string) {
			t.Helper()
			objs, err := decodeManifests("test.yaml", []byte(first+"\n---\n"+doc))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ApplyObjects(ctx, ns, nil, objs, io.Discard); !errors.Is(err, ErrRefused) {
				t.Fatalf("applied or failed otherwise: %v", err)
			}
			for _, in := range []string{ns, env.ns} {
				if _, err := c.Client.CoreV1().ConfigMaps(in).Get(ctx, "before", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Fatalf("the ConfigMap before the refused object was applied in %s: %v", in, err)
				}
			}
		}
		first := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"before"},"data":{"a":"b"}}`
		for name, doc := range hostile {
			t.Run(env.name+"/"+name, func(t *testing.T) { apply(t, env.ns, first, doc) })
		}
		t.Run(env.name+"/kube-system", func(t *testing.T) { apply(t, "kube-system", first, first) })
		if env.name != "test" {
			t.Run(env.name+"/another-namespace", func(t *testing.T) { apply(t, testNS, first, first) })
		}
	}
	if _, err := c.Client.CoreV1().Services(testNS).Get(ctx, "steal", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Service with externalIPs exists: %v", err)
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Get(ctx, "own-the-cluster", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the ClusterRoleBinding exists: %v", err)
	}
	// within the guard, the same manifests apply
	objs, err := decodeManifests("ok.yaml", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fine"},"data":{"a":"b"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyObjects(deploy.WithGuard(ctx, environments[2].guard), prodNS, nil, objs, io.Discard); err != nil {
		t.Fatalf("a ConfigMap in production: %v", err)
	}
	if _, err := decodeManifests("ns.yaml", []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"mine"}}`)); err == nil {
		t.Fatal("a Namespace manifest was read")
	}
}

// TestSuiteSecrets: a suite's secrets reach its Job through a Secret made
// beside it and owned by it — the Job's spec holds no value — and go with
// the Job; running the suite again replaces the Secret's value.
func TestSuiteSecrets(t *testing.T) {
	p, c := testCluster(t)
	ctx := context.Background()
	ns := fmt.Sprintf("sluice-suite-secrets-%d", time.Now().UnixNano()%1_000_000_000)
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := c.EnsureNamespace(ctx, ns, "run-1"); err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{"first-value-0123", "second-value-0123"} {
		var log bytes.Buffer
		// DB_PASSWORD in the environment, CLIENT_KEY as a file
		key := "key-of-" + value
		suite := Suite{Name: "it", Image: p.Registry + "/sluice/busybox:latest", Commands: []string{`test "$DB_PASSWORD" = ` + value,
			`test "$CLIENT_KEY" = ` + SecretFilesDir + `/CLIENT_KEY && test "$(cat "$CLIENT_KEY")" = ` + key},
			Secrets: map[string]string{"DB_PASSWORD": value}, SecretFiles: map[string]string{"CLIENT_KEY": key}}
		res, err := c.RunSuite(ctx, ns, "run-1", suite, &log)
		if err != nil || !res.Passed {
			t.Fatalf("%s: %+v %v\n%s", value, res, err, log.String())
		}
		job, err := c.Client.BatchV1().Jobs(ns).Get(ctx, "it", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, e := range job.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "DB_PASSWORD" {
				found = e.Value == "" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name == suite.SecretName()
			}
		}
		if !found {
			t.Fatalf("the Job's env: %+v", job.Spec.Template.Spec.Containers[0].Env)
		}
		// (the test's own commands hold the values; the Job's env and
		// volumes must not)
		pod := job.Spec.Template.Spec
		if spec, _ := json.Marshal([]any{pod.Volumes, pod.Containers[0].Env}); strings.Contains(string(spec), key) || strings.Contains(string(spec), value) {
			t.Fatalf("the Job's spec holds a secret's value: %s", spec)
		}
		sec, err := c.Client.CoreV1().Secrets(ns).Get(ctx, suite.SecretName(), metav1.GetOptions{})
		if err != nil || len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].UID != job.UID {
			t.Fatalf("the Secret %v is not the Job's: %v", sec.OwnerReferences, err)
		}
	}
	c.DeleteJob(ctx, ns, "it")
	if _, err := c.Client.CoreV1().Secrets(ns).Get(ctx, Suite{Name: "it"}.SecretName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Secret outlived its Job: %v", err)
	}
}
