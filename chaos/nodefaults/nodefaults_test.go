package nodefaults_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/chaos/chaostest"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// injector is an Injector with the platform's node power (node.sh).
func injector(t *testing.T, a *chaostest.App) *chaos.Injector {
	stop, start := testenv.Require(t).NodePower()
	return &chaos.Injector{Client: a.Client, Power: &chaos.CommandPower{StopCommand: stop, StartCommand: start}}
}

// budget keeps at least one of the sample's pods up through voluntary
// disruptions (evictions).
func budget(t *testing.T, a *chaostest.App) {
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "hello"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "hello"}}}}
	if _, err := a.Client.PolicyV1().PodDisruptionBudgets(a.Namespace).Create(context.Background(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the disruption budget to count the pods", func() bool {
		p, err := a.Client.PolicyV1().PodDisruptionBudgets(a.Namespace).Get(context.Background(), "hello", metav1.GetOptions{})
		return err == nil && p.Status.ObservedGeneration == p.Generation && p.Status.DisruptionsAllowed > 0
	})
}

func node(t *testing.T, a *chaostest.App, name string) *corev1.Node {
	t.Helper()
	n, err := a.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ready(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podsOn(t *testing.T, a *chaostest.App, name string) int {
	t.Helper()
	list, err := a.Client.CoreV1().Pods(a.Namespace).List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + name})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// spread checks the sample's pods sit on different nodes, and returns
// the node of the first.
func spread(t *testing.T, a *chaostest.App, replicas int) string {
	t.Helper()
	pods, err := (chaos.Target{Client: a.Client, Namespace: a.Namespace, Service: "hello"}).Pods(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, p := range pods {
		nodes[p.Spec.NodeName] = true
	}
	if len(pods) != replicas || len(nodes) != min(replicas, 2) {
		t.Fatalf("%d pods on nodes %v, want %d spread over the two nodes", len(pods), nodes, replicas)
	}
	return pods[0].Spec.NodeName
}

// TestNodeDrain drains the node of one of the sample's pods: with two
// replicas and a disruption budget the other pod serves while the evicted
// one starts elsewhere; with one, users wait for the replacement. Removing
// the fault uncordons the node.
func TestNodeDrain(t *testing.T) {
	for _, tc := range []struct {
		replicas int32
		breach   bool
	}{{2, false}, {1, true}} {
		t.Run(fmt.Sprintf("%d replicas", tc.replicas), func(t *testing.T) {
			a := chaostest.DeploySample(t, tc.replicas)
			if tc.replicas > 1 {
				budget(t, a)
			}
			target := spread(t, a, int(tc.replicas))
			before := a.PodNames(t)
			inj := injector(t, a)
			fin := contract.FaultInput{WorkflowID: "chaos/drain-test", Fault: contract.Fault{Kind: contract.FaultNodeDrain, Node: target, Scope: contract.DrainNamespace, Duration: 10 * time.Second}}
			o, summary := a.Experiment(t, inj, fin, time.Second, 12*time.Second)
			t.Logf("%s: %d requests, %d failed, longest error window %s, windows %+v", summary, o.Requests, o.Failed, o.Longest(), o.Windows)
			if !node(t, a, target).Spec.Unschedulable {
				t.Errorf("node %s is not cordoned during the drain", target)
			}
			if n := podsOn(t, a, target); n != 0 {
				t.Errorf("%d of the sample's pods still on drained node %s", n, target)
			}
			if tc.breach {
				a.WaitedForReplacement(t, before, o)
			}
			if !tc.breach && o.Longest() > 1500*time.Millisecond {
				t.Errorf("draining one of two pods' node: error window %s, want at most 1.5s", o.Longest())
			}
			fin.Namespace, fin.Service = a.Namespace, "hello"
			if _, err := inj.Remove(context.Background(), fin); err != nil {
				t.Fatal(err)
			}
			if n := node(t, a, target); n.Spec.Unschedulable || n.Labels[chaos.LabelFault] != "" {
				t.Fatalf("node %s after the drain's removal: unschedulable %v, fault label %q", target, n.Spec.Unschedulable, n.Labels[chaos.LabelFault])
			}
		})
	}
}

// TestNodeDrainAlreadyCordoned: a drain of a node someone had cordoned
// leaves it cordoned when it ends.
func TestNodeDrainAlreadyCordoned(t *testing.T) {
	a := chaostest.DeploySample(t, 1)
	ctx := context.Background()
	target := spread(t, a, 1)
	cordon := func(on bool) {
		n := node(t, a, target)
		n.Spec.Unschedulable = on
		if _, err := a.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cordon(true)
	t.Cleanup(func() { cordon(false) })
	inj := injector(t, a)
	fin := contract.FaultInput{WorkflowID: "chaos/cordoned", Namespace: a.Namespace, Service: "hello", Expires: time.Now().Add(time.Minute),
		Fault: contract.Fault{Kind: contract.FaultNodeDrain, Node: target, Scope: contract.DrainNamespace, Duration: time.Second}}
	if _, err := inj.Inject(ctx, fin); err != nil {
		t.Fatal(err)
	}
	if _, err := inj.Remove(ctx, fin); err != nil {
		t.Fatal(err)
	}
	if n := node(t, a, target); !n.Spec.Unschedulable || n.Labels[chaos.LabelFault] != "" {
		t.Fatalf("node %s cordoned before the drain: unschedulable %v after it, fault label %q", target, n.Spec.Unschedulable, n.Labels[chaos.LabelFault])
	}
}

// TestNodeAndZoneDown powers off a node (its kubelet and containers stop)
// for 60 s, against an SLO of a 30 s error window. Zone zone-b down with two replicas: users see failures only
// until the control plane marks the node lost and drops its pod from the
// Service (node-monitor-grace-period 20 s on the platform). The only
// replica's node down: users wait until its pod is evicted and started
// elsewhere (or the node returns). Removal starts the node and waits until
// it is Ready.
func TestNodeAndZoneDown(t *testing.T) {
	const slo = 30 * time.Second
	for _, tc := range []struct {
		replicas int32
		fault    contract.Fault
		breach   bool
	}{
		{2, contract.Fault{Kind: contract.FaultZoneDown, Zone: "zone-b", Duration: 60 * time.Second}, false},
		{1, contract.Fault{Kind: contract.FaultNodeDown, Duration: 60 * time.Second}, true},
	} {
		t.Run(fmt.Sprintf("%s/%d replicas", tc.fault.Kind, tc.replicas), func(t *testing.T) {
			a := chaostest.DeploySample(t, tc.replicas)
			spread(t, a, int(tc.replicas))
			inj := injector(t, a)
			fin := contract.FaultInput{WorkflowID: "chaos/down-test", Fault: tc.fault}
			o, summary := a.Experiment(t, inj, fin, time.Second, 70*time.Second)
			t.Logf("%s: %d requests, %d failed, longest error window %s, windows %+v", summary, o.Requests, o.Failed, o.Longest(), o.Windows)
			down, err := a.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{LabelSelector: chaos.LabelFault})
			if err != nil || len(down.Items) == 0 {
				t.Fatalf("no node carries the fault's mark: %v", err)
			}
			fin.Namespace, fin.Service = a.Namespace, "hello"
			t0 := time.Now()
			out, err := inj.Remove(context.Background(), fin)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s in %s", out, time.Since(t0).Round(time.Millisecond))
			for _, n := range down.Items {
				if got := node(t, a, n.Name); got.Labels[chaos.LabelFault] != "" {
					t.Errorf("node %s keeps the fault's mark after removal", n.Name)
				}
			}
			if tc.breach && o.Longest() < slo {
				t.Errorf("the only replica's node down: longest error window %s, want more than %s", o.Longest(), slo)
			}
			if !tc.breach && (o.Longest() > slo || o.Failed == 0) {
				t.Errorf("zone down with a replica in the other zone: longest error window %s (%d failed), want some but at most %s", o.Longest(), o.Failed, slo)
			}
			a.WaitReady(t, tc.replicas)
		})
	}
}

// TestExpiredNodeFaultsAreSwept: a drain and a node-down whose experiment
// is gone (nobody removes them) are lifted by the sweeper once expired.
func TestExpiredNodeFaultsAreSwept(t *testing.T) {
	a := chaostest.DeploySample(t, 2)
	ctx := context.Background()
	inj := injector(t, a)
	nodes, err := a.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: chaos.LabelZone + "=zone-b"})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes of zone-b: %v", err)
	}
	b := nodes.Items[0].Name
	gone := time.Now().Add(time.Minute)
	for _, f := range []contract.Fault{
		{Kind: contract.FaultNodeDrain, Scope: contract.DrainNamespace, Duration: time.Second},
		{Kind: contract.FaultNodeDown, Node: b, Duration: time.Second},
	} {
		fin := contract.FaultInput{WorkflowID: "chaos/terminated", Namespace: a.Namespace, Service: "hello", Fault: f, Expires: gone}
		if _, err := inj.Inject(ctx, fin); err != nil {
			t.Fatal(err)
		}
		sw := &chaos.Sweeper{Client: a.Client, Power: inj.Power}
		if done, err := sw.Sweep(ctx); err != nil || len(done) != 0 {
			t.Fatalf("sweep before expiry removed %v: %v", done, err)
		}
		sw.Now = func() time.Time { return gone.Add(time.Second) }
		t0 := time.Now()
		done, err := sw.Sweep(ctx)
		if err != nil || len(done) != 1 {
			t.Fatalf("sweep after expiry removed %v: %v", done, err)
		}
		t.Logf("%s: swept %v in %s", f.Kind, done, time.Since(t0).Round(time.Millisecond))
		list, err := a.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: chaos.LabelFault})
		if err != nil || len(list.Items) != 0 {
			t.Fatalf("nodes still marked after the sweep: %d (%v)", len(list.Items), err)
		}
		all, err := a.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range all.Items {
			if n.Spec.Unschedulable || !ready(n) {
				t.Errorf("node %s after the sweep: cordoned %v, ready %v", n.Name, n.Spec.Unschedulable, ready(n))
			}
		}
	}
	a.WaitReady(t, 2)
}
