package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/chaos/chaostest"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// agents runs an agent for every node of the platform until the test ends,
// as the DaemonSet would (this machine is both nodes' host).
func agents(t *testing.T, a *chaostest.App) {
	nodes, err := a.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, len(nodes.Items))
	t.Cleanup(func() {
		cancel()
		for range nodes.Items {
			<-done
		}
	})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, n := range nodes.Items {
		go func() {
			defer func() { done <- struct{}{} }()
			_ = (&Agent{Client: a.Client, Node: n.Name, Log: log}).Run(ctx, time.Second)
		}()
	}
}

// rules says, per pod of the sample, whether its network namespace holds
// the fault table.
func rules(t *testing.T, a *chaostest.App) map[string]bool {
	t.Helper()
	pods, err := (chaos.Target{Client: a.Client, Namespace: a.Namespace, Service: "hello"}).Pods(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pods {
		ns, err := podNetNS("/proc", string(p.UID))
		if err != nil {
			t.Fatal(err)
		}
		var has bool
		if err := withNetNS(ns, func(fd int) (err error) { has, err = hasRules(fd); return err }); err != nil {
			t.Fatal(err)
		}
		out[p.Name] = has
	}
	return out
}

func marked(t *testing.T, a *chaostest.App) int {
	t.Helper()
	list, err := a.Client.CoreV1().Pods(a.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: chaos.LabelFault})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

func all(m map[string]bool, want bool) bool {
	for _, v := range m {
		if v != want {
			return false
		}
	}
	return len(m) > 0
}

// TestNetworkLoss drops 40% of what the sample's pods send: requests fail
// (a lost SYN-ACK is resent after 1 s, when the probe's 1 s timeout has
// passed) while the fault holds; removing it takes the rules out
// of the pods' network namespaces and the marks off the pods.
func TestNetworkLoss(t *testing.T) {
	a := chaostest.DeploySample(t, 2)
	agents(t, a)
	inj := &chaos.Injector{Client: a.Client}
	fin := contract.FaultInput{WorkflowID: "chaos/loss", Fault: contract.Fault{Kind: contract.FaultNetworkLoss, Loss: 40, Duration: 10 * time.Second}}
	o, summary := a.Experiment(t, inj, fin, time.Second, 8*time.Second)
	t.Logf("%s: %d requests, %d failed, p99 %s", summary, o.Requests, o.Failed, o.P99)
	if o.Failed < o.Requests/20 {
		t.Errorf("40%% packet loss: %d of %d requests failed, want at least 5%%", o.Failed, o.Requests)
	}
	if r := rules(t, a); !all(r, true) {
		t.Fatalf("fault table per pod during the fault: %v", r)
	}
	fin.Namespace, fin.Service = a.Namespace, "hello"
	t0 := time.Now()
	out, err := inj.Remove(context.Background(), fin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s in %s", out, time.Since(t0).Round(time.Millisecond))
	if r := rules(t, a); !all(r, false) || marked(t, a) != 0 {
		t.Fatalf("after removal: fault table per pod %v, %d pods still marked", r, marked(t, a))
	}
}

// TestNetworkPartition cuts the sample's pods off from the pods labelled
// app=peer (and Services in front of them): a peer can no longer reach
// them while the prober on the host still can; after removal it can again.
func TestNetworkPartition(t *testing.T) {
	p := testenv.Require(t)
	rc, _ := p.Connect(t)
	a := chaostest.DeploySample(t, 2)
	agents(t, a)
	ctx := context.Background()
	peer := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "peer", Labels: map[string]string{"app": "peer"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: p.Registry + "/sluice/busybox:latest", Command: []string{"sleep", "3600"}}},
			TerminationGracePeriodSeconds: new(int64)}}
	if _, err := a.Client.CoreV1().Pods(a.Namespace).Create(ctx, peer, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the peer pod to run", func() bool {
		got, err := a.Client.CoreV1().Pods(a.Namespace).Get(ctx, "peer", metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodRunning
	})
	svc, err := a.Client.CoreV1().Services(a.Namespace).Get(ctx, "hello", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// the peer asks the sample through its Service (by cluster IP: the
	// busybox wget cannot resolve names nor service names, see README,
	// and its own -T timeout crashes it)
	reach := func() bool {
		var out, errOut bytes.Buffer
		code, err := deploy.Exec(ctx, rc, a.Client, a.Namespace, "peer", "main",
			[]string{"timeout", "3", "wget", "-qO-", "http://" + svc.Spec.ClusterIP + ":80/healthz"}, nil, &out, &errOut)
		if err != nil || code != 0 {
			t.Logf("peer -> sample: exit %d, %v: %s%s", code, err, out.String(), errOut.String())
		}
		return err == nil && code == 0
	}
	if !reach() {
		t.Fatal("the peer cannot reach the sample before any fault")
	}
	inj := &chaos.Injector{Client: a.Client}
	fin := contract.FaultInput{WorkflowID: "chaos/partition", Fault: contract.Fault{Kind: contract.FaultPartition,
		Peers: []contract.Label{{Name: "app", Value: "peer"}}, Duration: 10 * time.Second}}
	o, summary := a.Experiment(t, inj, fin, time.Second, 3*time.Second)
	t.Logf("%s; the host's probe meanwhile: %d requests, %d failed", summary, o.Requests, o.Failed)
	if o.Failed != 0 {
		t.Errorf("the partition cut the host's probe off too: %d of %d failed", o.Failed, o.Requests)
	}
	for i := range 3 {
		if reach() {
			t.Fatalf("attempt %d: the peer reaches the sample through the partition", i+1)
		}
	}
	fin.Namespace, fin.Service = a.Namespace, "hello"
	if _, err := inj.Remove(ctx, fin); err != nil {
		t.Fatal(err)
	}
	if !reach() {
		t.Fatal("the peer cannot reach the sample after the partition was removed")
	}
	if r := rules(t, a); !all(r, false) || marked(t, a) != 0 {
		t.Fatalf("after removal: fault table per pod %v, %d pods still marked", r, marked(t, a))
	}
}

// TestNetworkFaultExpires: a partition nobody removes (its worker and
// workflow are gone) is lifted by the agents themselves at its expiry.
func TestNetworkFaultExpires(t *testing.T) {
	a := chaostest.DeploySample(t, 2)
	agents(t, a)
	ctx := context.Background()
	expires := time.Now().Add(10 * time.Second)
	fin := contract.FaultInput{WorkflowID: "chaos/gone", Namespace: a.Namespace, Service: "hello", Expires: expires,
		Fault: contract.Fault{Kind: contract.FaultPartition, Duration: time.Second}}
	if _, err := (&chaos.Injector{Client: a.Client}).Inject(ctx, fin); err != nil {
		t.Fatal(err)
	}
	t.Logf("injected %s before expiry", time.Until(expires))
	if r := rules(t, a); !all(r, true) {
		t.Fatalf("fault table per pod after injection: %v", r)
	}
	poll.UntilWithin(t, time.Minute, "the agents to lift the expired partition", func() bool { return marked(t, a) == 0 })
	t.Logf("lifted %s after its expiry", time.Since(expires).Round(100*time.Millisecond))
	if r := rules(t, a); !all(r, false) {
		t.Fatalf("fault table per pod after expiry: %v", r)
	}
	a.WaitReady(t, 2)
}

// TestAgentRefusesTheHostsNetwork: whoever can patch a pod can ask the
// agent for a fault on it; a pod on its node's network is refused (its
// marks dropped) and the host's network namespace keeps no rule of ours.
// The spec asks for 1 % loss, so a failure of this test costs the machine
// little.
func TestAgentRefusesTheHostsNetwork(t *testing.T) {
	p := testenv.Require(t)
	a := chaostest.DeploySample(t, 1)
	agents(t, a)
	ctx := context.Background()
	// this test runs in the host's network namespace: whatever happens, no
	// table of ours stays there
	t.Cleanup(func() { _ = withNetNS("/proc/self/ns/net", removeRules) })
	spec := chaos.NetworkSpec{Workflow: "hostile", Loss: 1, Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	raw, _ := json.Marshal(spec)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "on-host",
		Labels:      map[string]string{chaos.LabelFault: "network"},
		Annotations: map[string]string{chaos.AnnotationNetwork: string(raw)}},
		Spec: corev1.PodSpec{HostNetwork: true, TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{Name: "main", Image: p.Registry + "/sluice/busybox:latest", Command: []string{"sleep", "3600"}}}}}
	if _, err := a.Client.CoreV1().Pods(a.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the pod on the host's network to run", func() bool {
		got, err := a.Client.CoreV1().Pods(a.Namespace).Get(ctx, "on-host", metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodRunning
	})
	poll.UntilWithin(t, 30*time.Second, "the agent to drop the marks", func() bool {
		got, err := a.Client.CoreV1().Pods(a.Namespace).Get(ctx, "on-host", metav1.GetOptions{})
		return err == nil && got.Labels[chaos.LabelFault] == "" && got.Annotations[chaos.AnnotationNetworkApplied] == ""
	})
	var has bool
	if err := withNetNS("/proc/self/ns/net", func(fd int) (err error) { has, err = hasRules(fd); return err }); err != nil {
		t.Fatal(err)
	}
	if has {
		t.Fatal("the agent put its table in the host's network namespace")
	}
}
