package activities

import (
	"context"
	"slices"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/environments"
)

// TestPodKillHeartbeatsItsChoice runs InjectFault as an activity: a first
// attempt heartbeats the pod it chose; an attempt that finds such details
// (its predecessor's worker died) deletes that pod (here already gone) and
// no other.
func TestPodKillHeartbeatsItsChoice(t *testing.T) {
	objs := []runtime.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "hello"}}}}
	for _, n := range []string{"a", "b", "c"} {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: "ns", Labels: map[string]string{"app": "hello"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
	cs := fake.NewClientset(objs...)
	plat := &Platform{Kubeconfig: "fake", Cluster: &environments.Cluster{Client: cs}}
	in := contract.FaultInput{WorkflowID: "chaos/x", Namespace: "ns", Service: "hello", Fault: contract.Fault{Kind: contract.FaultPodKill, Count: 1}}
	left := func() []string {
		list, _ := cs.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
		var out []string
		for _, p := range list.Items {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	var suite testsuite.WorkflowTestSuite

	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(plat.Chaos().InjectFault)
	var beat []string
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) { _ = d.Get(&beat) })
	if _, err := env.ExecuteActivity(plat.Chaos().InjectFault, in); err != nil {
		t.Fatal(err)
	}
	if len(beat) != 1 || slices.Contains(left(), beat[0]) {
		t.Fatalf("heartbeat %v, pods left %v", beat, left())
	}

	// its worker died after the deletion, before reporting: the retry
	// finds the heartbeat and deletes nothing more
	retry := suite.NewTestActivityEnvironment()
	retry.RegisterActivity(plat.Chaos().InjectFault)
	keep := left()
	retry.SetHeartbeatDetails(beat)
	if _, err := retry.ExecuteActivity(plat.Chaos().InjectFault, in); err != nil {
		t.Fatal(err)
	}
	if got := left(); !slices.Equal(got, keep) {
		t.Fatalf("the retry left %v, want %v: it killed another pod", got, keep)
	}
}
