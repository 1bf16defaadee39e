package testenv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	bkclient "github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/testenv"
)

// cluster is a connection to the platform and a namespace of this test's own,
// deleted at cleanup.
type cluster struct {
	p   *testenv.Platform
	cfg *rest.Config
	cs  kubernetes.Interface
	ns  string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	p := testenv.Require(t)
	cfg, cs := p.Connect(t)
	ns := fmt.Sprintf("sluice-test-%d", time.Now().UnixNano()%1_000_000_000)
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	// pods need the namespace's default service account
	waitFor(t, 30*time.Second, "default service account", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	return &cluster{p: p, cfg: cfg, cs: cs, ns: ns}
}

func (c *cluster) busybox() string { return c.p.Registry + "/sluice/busybox:latest" }

func waitFor(t *testing.T, timeout time.Duration, what string, cond wait.ConditionWithContextFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func (c *cluster) podPhase(t *testing.T, name string, want corev1.PodPhase, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, timeout, "pod "+name+" "+string(want), func(ctx context.Context) (bool, error) {
		var err error
		pod, err = c.cs.CoreV1().Pods(c.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if pod.Status.Phase == corev1.PodFailed && want != corev1.PodFailed {
			return false, fmt.Errorf("pod failed: %+v", pod.Status)
		}
		return pod.Status.Phase == want, nil
	})
	return pod
}

func (c *cluster) logs(t *testing.T, pod string) string {
	t.Helper()
	b, err := c.cs.CoreV1().Pods(c.ns).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func container(image string, cmd ...string) []corev1.Container {
	return []corev1.Container{{Name: "main", Image: image, Command: cmd}}
}

func TestPodRunsAndExecStreams(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shell"},
		Spec: corev1.PodSpec{Containers: container(c.busybox(), "sleep", "3600"), TerminationGracePeriodSeconds: new(int64)}}
	if _, err := c.cs.CoreV1().Pods(c.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.podPhase(t, "shell", corev1.PodRunning, 90*time.Second)
	var stdout, stderr bytes.Buffer
	code, err := deploy.Exec(ctx, c.cfg, c.cs, c.ns, "shell", "main",
		[]string{"sh", "-c", "read line; echo out:$line; echo err:$line >&2; exit 3"},
		strings.NewReader("hello\n"), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 || stdout.String() != "out:hello\n" || stderr.String() != "err:hello\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
}

func TestDeploymentRollsOutAndBack(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "main", Image: c.busybox(), Command: []string{"sleep", "3600"}, Env: []corev1.EnvVar{{Name: "VERSION", Value: "1"}}}},
			TerminationGracePeriodSeconds: new(int64)}}}}
	if _, err := c.cs.AppsV1().Deployments(c.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := deploy.WaitRollout(ctx, c.cs, c.ns, "web"); err != nil {
		t.Fatal(err)
	}
	cur, _ := c.cs.AppsV1().Deployments(c.ns).Get(ctx, "web", metav1.GetOptions{})
	cur.Spec.Template.Spec.Containers[0].Env[0].Value = "2"
	if _, err := c.cs.AppsV1().Deployments(c.ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := deploy.WaitRollout(ctx, c.cs, c.ns, "web"); err != nil {
		t.Fatal(err)
	}
	if rev, _ := deploy.Revision(ctx, c.cs, c.ns, "web"); rev != 2 {
		t.Fatalf("revision %d after the update", rev)
	}
	restored, err := deploy.Rollback(ctx, c.cs, c.ns, "web")
	if err != nil || restored != 1 {
		t.Fatalf("rollback restored %d: %v", restored, err)
	}
	if err := deploy.WaitRollout(ctx, c.cs, c.ns, "web"); err != nil {
		t.Fatal(err)
	}
	back, _ := c.cs.AppsV1().Deployments(c.ns).Get(ctx, "web", metav1.GetOptions{})
	if v := back.Spec.Template.Spec.Containers[0].Env[0].Value; v != "1" {
		t.Fatalf("after rollback VERSION=%s", v)
	}
}

// runJob runs a Job to completion and returns its pod's log.
func (c *cluster) runJob(t *testing.T, name, image string, cmd ...string) string {
	t.Helper()
	ctx := context.Background()
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: batchv1.JobSpec{
		BackoffLimit: new(int32),
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job": name}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: container(image, cmd...)}}}}
	if _, err := c.cs.BatchV1().Jobs(c.ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "job "+name+" complete", func(ctx context.Context) (bool, error) {
		j, err := c.cs.BatchV1().Jobs(c.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range j.Status.Conditions {
			if cond.Status == corev1.ConditionTrue && cond.Type == batchv1.JobFailed {
				return false, fmt.Errorf("job failed: %s", cond.Message)
			}
			if cond.Status == corev1.ConditionTrue && cond.Type == batchv1.JobComplete {
				return true, nil
			}
		}
		return false, nil
	})
	pods, err := c.cs.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: "job=" + name})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods of job %s: %v", name, err)
	}
	return c.logs(t, pods.Items[0].Name)
}

func TestJobCompletes(t *testing.T) {
	c := newCluster(t)
	if out := c.runJob(t, "hello", c.busybox(), "sh", "-c", "echo job-ran"); out != "job-ran\n" {
		t.Fatalf("job log %q", out)
	}
}

// TestServiceAnswersByDNSName serves a page from one pod and fetches it from
// another through the Service: by ClusterIP, by its short name (the pod's
// search path) and by its full cluster DNS name.
func TestServiceAnswersByDNSName(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	labels := map[string]string{"app": "httpd"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "httpd", Labels: labels}, Spec: corev1.PodSpec{
		Containers:                    container(c.busybox(), "sh", "-c", "mkdir -p /www && echo served-by-pod > /www/index.html && exec httpd -f -p 8080 -h /www"),
		TerminationGracePeriodSeconds: new(int64)}}
	if _, err := c.cs.CoreV1().Pods(c.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := c.cs.CoreV1().Services(c.ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.podPhase(t, "httpd", corev1.PodRunning, 90*time.Second)
	// A Service's rules reach every node's kube-proxy a moment after it is
	// created, and its ClusterIP may still lead to an earlier Service's
	// endpoint until then (a 404 from another test's server was seen), so
	// each address is fetched until it answers with this pod's page.
	// busybox-static's wget resolves through static glibc, which cannot
	// load NSS modules in a scratch image; its nslookup has a resolver of
	// its own, so names are resolved with it and fetched by the answer.
	script := `set -e
resolve() { for i in $(seq 30); do a=$(nslookup "$1" 2>/dev/null | awk '/^Address/ && !/:53$/ {print $2}' | tail -1); [ -n "$a" ] && { echo "$a"; return; }; sleep 1; done; return 1; }
short=$(resolve web); full=$(resolve web.` + c.ns + `.svc.cluster.local)
echo "$short $full"
for ip in ` + svc.Spec.ClusterIP + ` $short $full; do
  for i in $(seq 30); do
    page=$(wget -qO- "http://$ip/" 2>&1) && [ "$page" = served-by-pod ] && { echo "$page"; break; }
    sleep 1
  done
done`
	out := c.runJob(t, "fetch", c.busybox(), "sh", "-c", script)
	want := fmt.Sprintf("%s %s\n", svc.Spec.ClusterIP, svc.Spec.ClusterIP) + strings.Repeat("served-by-pod\n", 3)
	if out != want {
		t.Fatalf("fetched %q, want %q", out, want)
	}
}

// TestBakedImageRunsOnTheCluster builds a Dockerfile with a RUN step on the
// local base image with the BuildKit client, pushes it, runs the pushed
// digest as a pod (default pull policy), and tags the digest with crane.
func TestBakedImageRunsOnTheCluster(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	stamp := fmt.Sprint(time.Now().UnixNano())
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf(
		"FROM %s/sluice/busybox:latest\nRUN echo baked-%s > /baked.txt\nCMD [\"cat\", \"/baked.txt\"]\n", c.p.Registry, stamp)), 0o644)
	bk, err := bkclient.New(ctx, c.p.BuildKitAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	repo := c.p.Registry + "/sluice-test/baked"
	progress := make(chan *bkclient.SolveStatus)
	go func() {
		for range progress { // the progress channel must be drained
		}
	}()
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := bk.Solve(ctx, nil, bkclient.SolveOpt{
		Frontend:    "dockerfile.v0",
		LocalMounts: map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		Exports: []bkclient.ExportEntry{{Type: bkclient.ExporterImage, Attrs: map[string]string{
			"name": repo + ":" + stamp, "push": "true", "registry.insecure": "true"}}},
	}, progress)
	if err != nil {
		t.Fatalf("solve: %v", err)
	}
	digest := res.ExporterResponse["containerimage.digest"]
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("no digest in %v", res.ExporterResponse)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "baked"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "main", Image: repo + "@" + digest}}}}
	if _, err := c.cs.CoreV1().Pods(c.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.podPhase(t, "baked", corev1.PodSucceeded, 2*time.Minute)
	if out := c.logs(t, "baked"); out != "baked-"+stamp+"\n" {
		t.Fatalf("pod printed %q", out)
	}
	// mark it available: a second tag on the same digest
	if err := crane.Tag(repo+"@"+digest, "available", crane.Insecure); err != nil {
		t.Fatal(err)
	}
	got, err := crane.Digest(repo+":available", crane.Insecure)
	if err != nil || got != digest {
		t.Fatalf("available tag points at %s (%v), want %s", got, err, digest)
	}
}

// TestPlatformPrometheus: the platform's Prometheus scrapes both kubelets,
// the API server and a pod annotated prometheus.io/scrape (found by the
// platform's pod discovery), and its Alertmanager is ready with the token
// it sends Sluice.
func TestPlatformPrometheus(t *testing.T) {
	c := newCluster(t)
	prom, am := os.Getenv("SLUICE_PROMETHEUS_URL"), os.Getenv("SLUICE_ALERTMANAGER_URL")
	if prom == "" || am == "" {
		t.Fatal("SLUICE_PROMETHEUS_URL and SLUICE_ALERTMANAGER_URL unset: eval \"$(make -s platform-env)\"")
	}
	if b, err := os.ReadFile(os.Getenv("SLUICE_ALERTMANAGER_TOKEN_FILE")); err != nil || len(b) < 16 {
		t.Fatalf("Alertmanager's token for Sluice: %d bytes, %v", len(b), err)
	}
	resp, err := http.Get(am + "/-/ready")
	if err != nil {
		t.Fatalf("Alertmanager not ready: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("Alertmanager not ready: %s", resp.Status)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "metrics",
		Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}},
		Spec: corev1.PodSpec{Containers: container(c.busybox(), "sh", "-c",
			"mkdir /w && echo 'sluice_test_metric 42' > /w/metrics && exec httpd -f -p 8080 -h /w"),
			TerminationGracePeriodSeconds: new(int64)}}
	if _, err := c.cs.CoreV1().Pods(c.ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.podPhase(t, "metrics", corev1.PodRunning, 90*time.Second)
	query := func(q string) []float64 {
		resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil {
			return nil
		}
		var out []float64
		for _, s := range r.Data.Result {
			v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
			out = append(out, v)
		}
		return out
	}
	for _, tc := range []struct {
		q    string
		want int
	}{
		{`sluice_test_metric{namespace="` + c.ns + `",pod="metrics"}`, 1},
		{`up{job="kubelet"} == 1`, 2},
		{`up{job="kube-apiserver"} == 1`, 1},
	} {
		waitFor(t, time.Minute, tc.q, func(context.Context) (bool, error) { return len(query(tc.q)) == tc.want, nil })
	}
}
