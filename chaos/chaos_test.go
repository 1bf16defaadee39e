package chaos_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/chaos/chaostest"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/testenv"
)

// experiment probes the app while fault runs after lead of probing, and
// returns the observation and what the fault said it did.
func experiment(a *chaostest.App, t testing.TB, fault contract.Fault, lead, total time.Duration) (contract.Observation, string) {
	t.Helper()
	return a.Experiment(t, &chaos.Injector{Client: a.Client}, contract.FaultInput{Fault: fault, Expires: time.Now().Add(time.Minute)}, lead, total)
}

// slo is the error window the sample must keep through a pod kill.
const slo = 1500 * time.Millisecond

// TestPodKill kills a pod of the sample (which warms up for 2 s before it
// is ready): with two replicas users see errors only while kube-proxy
// catches up, with one they wait for the replacement.
func TestPodKill(t *testing.T) {
	for _, tc := range []struct {
		replicas int32
		breach   bool
	}{{2, false}, {1, true}} {
		t.Run(fmt.Sprintf("%d replicas", tc.replicas), func(t *testing.T) {
			a := chaostest.DeploySample(t, tc.replicas)
			before := a.PodNames(t)
			o, summary := experiment(a, t, contract.Fault{Kind: contract.FaultPodKill, Count: 1, Duration: time.Second}, time.Second, 12*time.Second)
			t.Logf("%s: %d requests, %d failed, longest error window %s, windows %+v, p99 %s", summary, o.Requests, o.Failed, o.Longest(), o.Windows, o.P99)
			if o.Requests < 400 {
				t.Fatalf("the probe sent %d requests in 12 s at 50/s", o.Requests)
			}
			if tc.breach {
				a.WaitedForReplacement(t, before, o)
			}
			if !tc.breach && o.Longest() > slo {
				t.Errorf("killing one of two pods: error window %s, want at most %s", o.Longest(), slo)
			}
		})
	}
}

// TestRemovingOneExperimentsUpgradeLeavesAnothers: two experiments roll
// the same Deployment; the first one's recorded images are the ones to
// restore, so removing the second's fault leaves the Deployment as it is
// and removing the first's puts the images back.
func TestRemovingOneExperimentsUpgradeLeavesAnothers(t *testing.T) {
	p := testenv.Require(t)
	a := chaostest.DeploySample(t, 1)
	ctx := context.Background()
	broken := p.Registry + "/sluice/busybox:latest"
	inj := &chaos.Injector{Client: a.Client}
	fault := func(wf string) contract.FaultInput {
		return contract.FaultInput{Namespace: a.Namespace, Service: "hello", WorkflowID: wf, Expires: time.Now().Add(time.Minute),
			Fault: contract.Fault{Kind: contract.FaultUpgrade, Image: broken, Duration: time.Minute}}
	}
	image := func() (string, string) {
		d, err := a.Client.AppsV1().Deployments(a.Namespace).Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image, d.Annotations[chaos.AnnotationWorkflow]
	}
	for _, wf := range []string{"chaos/a", "chaos/b"} {
		if _, err := inj.Inject(ctx, fault(wf)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := inj.Remove(ctx, fault("chaos/b")); err != nil {
		t.Fatal(err)
	}
	if img, owner := image(); img != broken || owner != "chaos/a" {
		t.Fatalf("after removing chaos/b's fault: image %s, owner %q; want chaos/a's fault still in place", img, owner)
	}
	if _, err := inj.Remove(ctx, fault("chaos/a")); err != nil {
		t.Fatal(err)
	}
	if img, owner := image(); img != a.Image || owner != "" {
		t.Fatalf("after removing chaos/a's fault: image %s, owner %q; want %s back", img, owner, a.Image)
	}
}
