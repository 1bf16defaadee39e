package chaos

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func fakeTarget(pods ...string) Target {
	objs := []runtime.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "hello"}}}}
	for _, p := range pods {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p, Namespace: "ns", Labels: map[string]string{"app": "hello"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
	return Target{Client: fake.NewClientset(objs...), Namespace: "ns", Service: "hello"}
}

func podNames(t *testing.T, tg Target) []string {
	t.Helper()
	list, err := tg.Client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// TestPodKillRetryDeletesTheChosenPods: the first attempt reports its
// choice before deleting; a retry given that choice deletes those pods (one
// already gone) and no other, whatever count says.
func TestPodKillRetryDeletesTheChosenPods(t *testing.T) {
	tg := fakeTarget("a", "b", "c")
	var chosen []string
	if _, err := killPods(context.Background(), tg, 1, nil, nil, func(p []string) {
		chosen = p
		if len(podNames(t, tg)) != 3 {
			t.Error("told of the choice after a pod was deleted")
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(chosen) != 1 || slices.Contains(podNames(t, tg), chosen[0]) {
		t.Fatalf("chose %v, pods left %v", chosen, podNames(t, tg))
	}
	left := podNames(t, tg)
	// the retry: its worker died after deleting; the pod is gone already
	summary, err := killPods(context.Background(), tg, 1, nil, chosen, func([]string) { t.Error("a retry chose again") })
	if err != nil {
		t.Fatal(err)
	}
	if got := podNames(t, tg); !slices.Equal(got, left) {
		t.Fatalf("the retry deleted more: %v, want %v (%s)", got, left, summary)
	}
	// the retry of an attempt that died before deleting deletes its choice
	if _, err := killPods(context.Background(), tg, 1, nil, []string{left[0]}, nil); err != nil {
		t.Fatal(err)
	}
	if got := podNames(t, tg); !slices.Equal(got, left[1:]) {
		t.Fatalf("pods %v, want %v", got, left[1:])
	}
}
