// Package chaostest deploys the sample app on the local platform for the
// tests of chaos experiments.
package chaostest

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

var (
	sampleOnce sync.Once
	sampleRef  string
	sampleErr  error
)

// sampleImage bakes the sample app (examples/hello) once per test binary.
func SampleImage(t testing.TB, p *testenv.Platform) string {
	t.Helper()
	sampleOnce.Do(func() {
		repo := p.Registry + "/sluice-test/chaos-hello"
		var log bytes.Buffer
		res, err := (&image.Builder{Addr: p.BuildKitAddr}).Bake(context.Background(), image.Bake{ContextDir: examplesHello(), Repository: repo, Tags: []string{"chaos"}}, &log)
		if err != nil {
			sampleErr = fmt.Errorf("bake the sample: %w\n%s", err, log.String())
			return
		}
		sampleRef = repo + "@" + res.Digest
	})
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}
	return sampleRef
}

// App is the sample app with its pods behind Service "hello" (port 80) in
// a namespace of its own, deleted when the test ends.
type App struct {
	Client    kubernetes.Interface
	Namespace string
	Image     string
}

// DeploySample deploys the sample app with replicas pods on the local
// platform and waits until its Service answers.
func DeploySample(t testing.TB, replicas int32) *App {
	t.Helper()
	p := testenv.Require(t)
	_, client := p.Connect(t)
	a := &App{Client: client, Namespace: fmt.Sprintf("sluice-chaos-test-%d", time.Now().UnixNano()%1_000_000_000), Image: SampleImage(t, p)}
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.Namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), a.Namespace, metav1.DeleteOptions{})
	})
	labels := map[string]string{"app": "hello"}
	honor := corev1.NodeInclusionPolicyHonor
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels,
					// the platform's Prometheus scrapes /metrics
					Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}},
				Spec: corev1.PodSpec{
					// one pod per node while it can be: nodes that are
					// cordoned or down (tainted) do not count, so a drained
					// or lost node's pods find a place on the others
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, NodeTaintsPolicy: &honor,
					}},
					Containers: []corev1.Container{{
						Name: "hello", Image: a.Image,
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1,
							// a real service warms up before it is ready: a pod
							// that replaces a killed one takes at least this
							InitialDelaySeconds: 2,
						},
					}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments(a.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := client.CoreV1().Services(a.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.WaitReady(t, replicas)
	return a
}

// WaitReady waits until the Deployment has replicas ready, updated pods and
// the Service answers through kube-proxy.
func (a *App) WaitReady(t testing.TB, replicas int32) {
	t.Helper()
	poll.Until(t, fmt.Sprintf("%d ready pods of hello", replicas), func() bool {
		d, err := a.Client.AppsV1().Deployments(a.Namespace).Get(context.Background(), "hello", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == replicas && d.Status.UpdatedReplicas == replicas && d.Status.Replicas == replicas
	})
	// kube-proxy routes to the new endpoints a moment after they are ready.
	url, err := chaos.Target{Client: a.Client, Namespace: a.Namespace, Service: "hello"}.URL(context.Background(), 0, "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the Service to answer", func() bool {
		o, err := (&chaos.Prober{URL: url, Rate: 10, Timeout: time.Second}).Run(context.Background(), 300*time.Millisecond)
		return err == nil && o.Requests > 0 && o.Failed == 0
	})
}

// PodNames are the names of the app's pods now.
func (a *App) PodNames(t testing.TB) []string {
	t.Helper()
	list, err := a.Client.CoreV1().Pods(a.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	return names
}

// WaitedForReplacement checks that o saw users refused until a pod that
// replaced the app's only pod (before: the pods' names then) was ready.
// How long that takes is not a fixed bound: the window opens when the old
// pod stops answering, which is when its kubelet gets to it, and kube-proxy
// keeps sending to a terminating pod while no other is ready.
func (a *App) WaitedForReplacement(t testing.TB, before []string, o contract.Observation) {
	t.Helper()
	if len(o.Windows) == 0 {
		t.Fatalf("the only pod gone: no request failed")
	}
	list, err := a.Client.CoreV1().Pods(a.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var readyAt time.Time
	for _, p := range list.Items {
		if slices.Contains(before, p.Name) || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				readyAt = c.LastTransitionTime.Time // to the second
			}
		}
	}
	if readyAt.IsZero() {
		t.Fatalf("no ready pod replaced %v", before)
	}
	// the outage is the window that spans the replacement's readiness; a
	// later blip (kube-proxy rewriting its rules as the old pod's endpoint
	// goes) is another window, not the end of this one
	for _, w := range o.Windows {
		if !w.End.Before(readyAt) && w.Start.Before(readyAt.Add(time.Second)) {
			return
		}
	}
	var seen []string
	for _, w := range o.Windows {
		seen = append(seen, w.Start.Format(time.StampMilli)+".."+w.End.Format(time.StampMilli))
	}
	t.Errorf("the only pod gone: no error window lasted until its replacement was ready at %s (to the second); windows %v",
		readyAt.Format(time.StampMilli), seen)
}

// examplesHello is the sample app's directory, found from the module root
// so tests of any package can bake it.
func examplesHello() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "hello")
}

// Experiment probes the app at 50 requests a second for total while inj
// injects fault after lead of probing, and returns the observation and
// what the fault said it did. The fault is left in place: removing it is
// the caller's.
func (a *App) Experiment(t testing.TB, inj *chaos.Injector, fault contract.FaultInput, lead, total time.Duration) (contract.Observation, string) {
	t.Helper()
	ctx := context.Background()
	url, err := chaos.Target{Client: a.Client, Namespace: a.Namespace, Service: "hello"}.URL(ctx, 0, "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan contract.Observation, 1)
	go func() {
		o, err := (&chaos.Prober{URL: url, Rate: 50, Timeout: time.Second}).Run(ctx, total)
		if err != nil {
			t.Error(err)
		}
		done <- o
	}()
	time.Sleep(lead) // the probe's lead before the fault, not a synchronisation
	fault.Namespace, fault.Service = a.Namespace, "hello"
	if fault.WorkflowID == "" {
		fault.WorkflowID = "test"
	}
	if fault.Expires.IsZero() {
		fault.Expires = time.Now().Add(total + time.Minute)
	}
	summary, err := inj.Inject(ctx, fault)
	if err != nil {
		t.Fatal(err)
	}
	return <-done, summary
}
