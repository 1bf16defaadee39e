package chaos

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

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
func sampleImage(t testing.TB, p *testenv.Platform) string {
	t.Helper()
	sampleOnce.Do(func() {
		repo := p.Registry + "/sluice-test/chaos-hello"
		var log bytes.Buffer
		res, err := (&image.Builder{Addr: p.BuildKitAddr}).Bake(context.Background(), image.Bake{ContextDir: "../examples/hello", Repository: repo, Tags: []string{"chaos"}}, &log)
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

// app is the sample app with replicas pods behind Service hello in a new
// namespace.
type app struct {
	client kubernetes.Interface
	ns     string
	image  string
}

func deploySample(t testing.TB, replicas int32) *app {
	t.Helper()
	p := testenv.Require(t)
	_, client := p.Connect(t)
	a := &app{client: client, ns: fmt.Sprintf("sluice-chaos-test-%d", time.Now().UnixNano()%1_000_000_000), image: sampleImage(t, p)}
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), a.ns, metav1.DeleteOptions{}) })
	labels := map[string]string{"app": "hello"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "hello", Image: a.image,
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
						PeriodSeconds: 1,
					},
				}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments(a.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := client.CoreV1().Services(a.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.waitReady(t, replicas)
	return a
}

func (a *app) waitReady(t testing.TB, replicas int32) {
	t.Helper()
	poll.Until(t, fmt.Sprintf("%d ready pods of hello", replicas), func() bool {
		d, err := a.client.AppsV1().Deployments(a.ns).Get(context.Background(), "hello", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == replicas && d.Status.UpdatedReplicas == replicas && d.Status.Replicas == replicas
	})
	// kube-proxy routes to the new endpoints a moment after they are ready.
	url, err := Target{Client: a.client, Namespace: a.ns, Service: "hello"}.URL(context.Background(), 0, "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the Service to answer", func() bool {
		o, err := (&Prober{URL: url, Rate: 10, Timeout: time.Second}).Run(context.Background(), 300*time.Millisecond)
		return err == nil && o.Requests > 0 && o.Failed == 0
	})
}

// experiment probes the app while fault runs after lead of probing, and
// returns the observation and what the fault said it did.
func (a *app) experiment(t testing.TB, fault contract.Fault, lead, total time.Duration) (contract.Observation, string) {
	t.Helper()
	ctx := context.Background()
	url, err := Target{Client: a.client, Namespace: a.ns, Service: "hello"}.URL(ctx, 0, "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan contract.Observation, 1)
	go func() {
		o, err := (&Prober{URL: url, Rate: 50, Timeout: time.Second}).Run(ctx, total)
		if err != nil {
			t.Error(err)
		}
		done <- o
	}()
	time.Sleep(lead) // the probe's lead before the fault, not a synchronisation
	inj := &Injector{Client: a.client}
	summary, err := inj.Inject(ctx, contract.FaultInput{Namespace: a.ns, Service: "hello", Fault: fault, WorkflowID: "test", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return <-done, summary
}

func TestPodKill(t *testing.T) {
	for _, tc := range []struct {
		replicas int32
		// breach: the kill must open an error window (one replica), or
		// must not (two).
		breach bool
	}{{2, false}, {1, true}} {
		t.Run(fmt.Sprintf("%d replicas", tc.replicas), func(t *testing.T) {
			a := deploySample(t, tc.replicas)
			o, summary := a.experiment(t, contract.Fault{Kind: contract.FaultPodKill, Count: 1, Duration: time.Second}, time.Second, 12*time.Second)
			t.Logf("%s: %d requests, %d failed, longest error window %s, windows %+v, p99 %s", summary, o.Requests, o.Failed, o.Longest(), o.Windows, o.P99)
			if o.Requests < 400 {
				t.Fatalf("the probe sent %d requests in 12 s at 50/s", o.Requests)
			}
			if tc.breach && o.Longest() < time.Second {
				t.Errorf("killing the only pod: longest error window %s, want a window of at least 1s", o.Longest())
			}
			if !tc.breach && o.Failed > 0 {
				t.Errorf("killing one of two pods failed %d requests: %+v", o.Failed, o.Windows)
			}
		})
	}
}
