package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-cd/sluice/contract"
)

// Network faults act inside the target pods' network namespaces, which only
// something on their node can reach: the Sluice agent (a privileged
// DaemonSet, chaos/agent). The worker asks through the pods themselves:
//
//   - label LabelFault=network marks a pod the agent must look after;
//   - annotation AnnotationNetwork holds the NetworkSpec to apply (gone or
//     expired: remove it);
//   - annotation AnnotationNetworkApplied is the agent's answer, the
//     Digest of the spec its rules enforce.
//
// Once it has removed a pod's rules the agent drops all three, so a pod
// without the label carries no network fault.
const (
	AnnotationNetwork        = "chaos.sluice.dev/network"
	AnnotationNetworkApplied = "chaos.sluice.dev/network-applied"
	faultNetwork             = "network"
)

// NetworkSpec is what the agent enforces in a pod's network namespace.
type NetworkSpec struct {
	Workflow string `json:"workflow"`
	// Loss drops this percentage of the packets the pod sends.
	Loss int `json:"loss,omitempty"`
	// Partition cuts the pod off: from Peers (IPv4 addresses or CIDRs)
	// when any are given, else from everything but itself.
	Partition bool     `json:"partition,omitempty"`
	Peers     []string `json:"peers,omitempty"`
	// Expires is when the agent removes the rules whatever happens.
	Expires time.Time `json:"expires"`
}

// Digest identifies a spec (what the agent reports it applied).
func (s NetworkSpec) Digest() string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// ParseNetworkSpec reads a pod's AnnotationNetwork.
func ParseNetworkSpec(raw string) (NetworkSpec, error) {
	var s NetworkSpec
	err := json.Unmarshal([]byte(raw), &s)
	return s, err
}

// agentPatience bounds how long the worker waits for the agents to apply or
// remove a network fault.
const agentPatience = time.Minute

// networkFault asks the agents on the target pods' nodes to apply f and
// waits until each has.
func networkFault(ctx context.Context, t Target, f contract.Fault, workflowID string, expires time.Time) (string, error) {
	pods, err := t.Pods(ctx)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", fmt.Errorf("%w: Service %s/%s selects no running pod", ErrTarget, t.Namespace, t.Service)
	}
	spec := NetworkSpec{Workflow: workflowID, Loss: f.Loss, Partition: f.Kind == contract.FaultPartition, Expires: expires.UTC().Truncate(time.Second)}
	if spec.Partition && len(f.Peers) > 0 {
		if spec.Peers, err = peerAddresses(ctx, t, f.Peers); err != nil {
			return "", err
		}
	}
	raw, _ := json.Marshal(spec)
	var names []string
	for _, p := range pods {
		if p.Spec.HostNetwork {
			return "", fmt.Errorf("%w: pod %s/%s uses its node's network: a network fault would cut the node off", ErrTarget, p.Namespace, p.Name)
		}
		if cur := p.Annotations[AnnotationNetwork]; cur != "" {
			if other, err := ParseNetworkSpec(cur); err == nil && other.Workflow != workflowID {
				return "", fmt.Errorf("%w: pod %s/%s already has a network fault of experiment %s", ErrTarget, p.Namespace, p.Name, other.Workflow)
			}
		}
		patch := map[string]any{"metadata": map[string]any{
			"labels":      map[string]string{LabelFault: faultNetwork},
			"annotations": map[string]string{AnnotationNetwork: string(raw)},
		}}
		if err := mergePatch(ctx, t, p.Name, patch); err != nil {
			return "", err
		}
		names = append(names, p.Name)
	}
	want := spec.Digest()
	err = waitAgents(ctx, t, names, func(p *corev1.Pod) bool { return p.Annotations[AnnotationNetworkApplied] == want })
	if err != nil {
		return "", fmt.Errorf("%w (the network fault is asked for on the pods; its removal takes it back)", err)
	}
	what := fmt.Sprintf("dropping %d%% of the packets", f.Loss)
	if spec.Partition {
		what = "cut off from everything"
		if len(spec.Peers) > 0 {
			what = "cut off from " + strings.Join(spec.Peers, ", ")
		}
	}
	return fmt.Sprintf("pods %s %s", strings.Join(names, ", "), what), nil
}

// removeNetworkFault takes back the network fault of experiment
// workflowID from the target namespace's pods and waits until the agents
// have removed their rules. Pods that are gone need nothing.
func removeNetworkFault(ctx context.Context, t Target, workflowID string) ([]string, error) {
	list, err := t.Client.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelFault + "=" + faultNetwork})
	if err != nil {
		return nil, fmt.Errorf("list pods with network faults in %s: %w", t.Namespace, err)
	}
	var names []string
	for _, p := range list.Items {
		if raw := p.Annotations[AnnotationNetwork]; raw != "" {
			if s, err := ParseNetworkSpec(raw); err == nil && s.Workflow != workflowID {
				continue
			}
		}
		patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationNetwork: nil}}}
		if err := mergePatch(ctx, t, p.Name, patch); err != nil {
			return nil, err
		}
		names = append(names, p.Name)
	}
	err = waitAgents(ctx, t, names, func(p *corev1.Pod) bool { return p.Labels[LabelFault] != faultNetwork })
	return names, err
}

func mergePatch(ctx context.Context, t Target, pod string, patch any) error {
	b, _ := json.Marshal(patch)
	_, err := t.Client.CoreV1().Pods(t.Namespace).Patch(ctx, pod, types.MergePatchType, b, metav1.PatchOptions{FieldManager: "sluice-chaos"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark pod %s/%s for the node agent: %w", t.Namespace, pod, err)
	}
	return nil
}

// waitAgents waits until done holds for every pod still there, or fails
// naming the pods and nodes whose agent did not answer.
func waitAgents(ctx context.Context, t Target, pods []string, done func(*corev1.Pod) bool) error {
	deadline := time.Now().Add(agentPatience)
	for {
		var late []string
		for _, name := range pods {
			p, err := t.Client.CoreV1().Pods(t.Namespace).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || (err == nil && (p.DeletionTimestamp != nil || done(p))) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read pod %s/%s: %w", t.Namespace, name, err)
			}
			late = append(late, fmt.Sprintf("%s (node %s)", name, p.Spec.NodeName))
		}
		if len(late) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Sluice agent did not answer for pods %s within %s: is its DaemonSet (deploy/kubernetes/agent) running on those nodes?", strings.Join(late, ", "), agentPatience)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// peerAddresses are the IPs of the namespace's pods with the peer labels
// and the cluster IPs of the Services that select them (traffic to a
// Service leaves the pod addressed to its cluster IP).
func peerAddresses(ctx context.Context, t Target, peers []contract.Label) ([]string, error) {
	set := labels.Set{}
	for _, l := range peers {
		set[l.Name] = l.Value
	}
	pods, err := t.Client.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: set.String()})
	if err != nil {
		return nil, fmt.Errorf("list the peers %s in %s: %w", set, t.Namespace, err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.PodIP != "" && !p.Spec.HostNetwork {
			out = append(out, p.Status.PodIP)
		}
	}
	svcs, err := t.Client.CoreV1().Services(t.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Services in %s: %w", t.Namespace, err)
	}
	for _, s := range svcs.Items {
		if len(s.Spec.Selector) == 0 || s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		sel := labels.SelectorFromSet(s.Spec.Selector)
		for _, p := range pods.Items {
			if sel.Matches(labels.Set(p.Labels)) {
				out = append(out, s.Spec.ClusterIP)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no pod in %s has the peer labels %s", ErrTarget, t.Namespace, set)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
