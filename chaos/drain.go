package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/contract"
)

// drainPatience bounds how long a drain keeps asking to evict pods a
// PodDisruptionBudget protects (at most the fault's duration).
const drainPatience = 90 * time.Second

// drain cordons a node and evicts its pods through the Eviction API, so
// that PodDisruptionBudgets are honoured: a pod whose budget allows no
// disruption now is asked again each second until the budget allows it or
// patience runs out (then it is reported, not forced). Scope DrainNamespace
// evicts only the target namespace's pods; Grace, when set, overrides the
// pods' termination grace period.
func drain(ctx context.Context, t Target, f contract.Fault, workflowID string, expires time.Time) (string, error) {
	nodes, err := chooseNodes(ctx, t, contract.FaultNodeDrain, workflowID, f.Node, "")
	if err != nil {
		return "", err
	}
	node := nodes[0]
	err = markNode(ctx, t, node, contract.FaultNodeDrain, workflowID, expires, func(n *corev1.Node) {
		if _, noted := n.Annotations[AnnotationRestore]; !noted {
			// uncordon on removal only a node this fault cordoned
			n.Annotations[AnnotationRestore] = ""
			if !n.Spec.Unschedulable {
				n.Annotations[AnnotationRestore] = restoreUncordon
			}
		}
		n.Spec.Unschedulable = true
	})
	if err != nil {
		return "", fmt.Errorf("cordon node %s: %w", node, err)
	}
	ns := t.Namespace
	if f.Scope == contract.DrainNode {
		ns = ""
	}
	patience := min(f.Duration, drainPatience)
	deadline := time.Now().Add(patience)
	var evicted, blocked []string
	for {
		pods, err := podsOn(ctx, t, node, ns)
		if err != nil {
			return "", err
		}
		blocked = blocked[:0]
		for _, p := range pods {
			if !evictable(p) {
				continue
			}
			ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
			if f.Grace != nil {
				s := int64(f.Grace.Seconds())
				ev.DeleteOptions = &metav1.DeleteOptions{GracePeriodSeconds: &s}
			}
			err := t.Client.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
			switch {
			case err == nil:
				evicted = append(evicted, p.Namespace+"/"+p.Name)
			case apierrors.IsNotFound(err):
			case apierrors.IsTooManyRequests(err):
				// the pod's disruption budget says not now
				blocked = append(blocked, p.Namespace+"/"+p.Name)
			default:
				return "", fmt.Errorf("evict pod %s/%s from node %s: %w", p.Namespace, p.Name, node, err)
			}
		}
		if len(blocked) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
	out := fmt.Sprintf("cordoned node %s, evicted %d pods", node, len(evicted))
	if len(evicted) > 0 {
		out += ": " + strings.Join(evicted, ", ")
	}
	if len(blocked) > 0 {
		out += fmt.Sprintf("; a PodDisruptionBudget kept %s for %s", strings.Join(blocked, ", "), patience)
	}
	return out, nil
}

// evictable is a pod a drain evicts: not already going, not finished, not
// a DaemonSet's (it would come back on the same node) nor a static pod.
func evictable(p corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if _, static := p.Annotations[corev1.MirrorPodAnnotationKey]; static {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return false
		}
	}
	return true
}

// uncordon lifts the drains of experiment workflowID (every expired one
// when workflowID is "" and only is set): nodes the drain cordoned become
// schedulable again, the marks go.
func uncordon(ctx context.Context, t Target, workflowID string, only func(corev1.Node) bool) ([]string, error) {
	nodes, err := markedNodes(ctx, t, contract.FaultNodeDrain, workflowID)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, n := range nodes {
		if only != nil && !only(n) {
			continue
		}
		err := unmarkNode(ctx, t, n.Name, func(cur *corev1.Node) {
			if cur.Annotations[AnnotationRestore] == restoreUncordon {
				cur.Spec.Unschedulable = false
			}
		})
		if err != nil {
			return done, fmt.Errorf("uncordon node %s: %w", n.Name, err)
		}
		done = append(done, n.Name)
	}
	return done, nil
}
