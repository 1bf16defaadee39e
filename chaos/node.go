package chaos

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/util/retry"
)

// LabelZone is the well-known label naming a node's zone.
const LabelZone = "topology.kubernetes.io/zone"

// Node faults are marked on the Node itself (LabelFault = the fault's
// kind, AnnotationWorkflow, AnnotationExpires, and for a drain
// AnnotationRestore = restoreUncordon when the fault cordoned it) before
// they act, so that a retried injection finds the node it chose, the
// removal knows what to undo, and the sweeper can undo it past its expiry.
const restoreUncordon = "uncordon"

// busiestNode is the node running most of the target's pods (ties: the
// first by name).
func busiestNode(ctx context.Context, t Target) (string, error) {
	pods, err := t.Pods(ctx)
	if err != nil {
		return "", err
	}
	count := map[string]int{}
	var names []string
	for _, p := range pods {
		if p.Spec.NodeName == "" {
			continue
		}
		if count[p.Spec.NodeName] == 0 {
			names = append(names, p.Spec.NodeName)
		}
		count[p.Spec.NodeName]++
	}
	if len(names) == 0 {
		return "", fmt.Errorf("%w: Service %s/%s selects no running pod, so no node runs the target (name one with node:)", ErrTarget, t.Namespace, t.Service)
	}
	slices.Sort(names)
	best := names[0]
	for _, n := range names[1:] {
		if count[n] > count[best] {
			best = n
		}
	}
	return best, nil
}

// markedNodes are the nodes fault kind of experiment workflowID marked
// (every experiment's when workflowID is "").
func markedNodes(ctx context.Context, t Target, kind, workflowID string) ([]corev1.Node, error) {
	list, err := t.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: LabelFault + "=" + kind})
	if err != nil {
		return nil, fmt.Errorf("list nodes with a %s fault: %w", kind, err)
	}
	var out []corev1.Node
	for _, n := range list.Items {
		if workflowID == "" || n.Annotations[AnnotationWorkflow] == workflowID {
			out = append(out, n)
		}
	}
	return out, nil
}

// chooseNodes resolves which nodes a node fault acts on: those it marked
// in an earlier attempt, else the named node, the zone's nodes, or the
// busiest node of the target.
func chooseNodes(ctx context.Context, t Target, kind, workflowID, node, zone string) ([]string, error) {
	marked, err := markedNodes(ctx, t, kind, workflowID)
	if err != nil {
		return nil, err
	}
	if len(marked) > 0 {
		var names []string
		for _, n := range marked {
			names = append(names, n.Name)
		}
		return names, nil
	}
	switch {
	case zone != "":
		list, err := t.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: LabelZone + "=" + zone})
		if err != nil {
			return nil, fmt.Errorf("list the nodes of zone %s: %w", zone, err)
		}
		if len(list.Items) == 0 {
			return nil, fmt.Errorf("%w: no node is labelled %s=%s", ErrTarget, LabelZone, zone)
		}
		var names []string
		for _, n := range list.Items {
			names = append(names, n.Name)
		}
		slices.Sort(names)
		return names, nil
	case node != "":
		if _, err := t.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
			return nil, fmt.Errorf("%w: node %s: %w", ErrTarget, node, err)
		}
		return []string{node}, nil
	}
	n, err := busiestNode(ctx, t)
	if err != nil {
		return nil, err
	}
	return []string{n}, nil
}

// markNode writes fault kind's marks on node (keeping the first attempt's
// restore note) and applies change to it, in one update.
func markNode(ctx context.Context, t Target, node, kind, workflowID string, expires time.Time, change func(*corev1.Node)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := t.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		if cur := n.Labels[LabelFault]; cur != "" && (cur != kind || n.Annotations[AnnotationWorkflow] != workflowID) {
			return fmt.Errorf("%w: node %s already has fault %s of experiment %s", ErrTarget, node, cur, n.Annotations[AnnotationWorkflow])
		}
		n.Labels[LabelFault] = kind
		n.Annotations[AnnotationWorkflow] = workflowID
		n.Annotations[AnnotationExpires] = expires.UTC().Format(time.RFC3339)
		if change != nil {
			change(n)
		}
		_, err = t.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{FieldManager: "sluice-chaos"})
		return err
	})
}

// unmarkNode drops a fault's marks from node and applies change, in one
// update.
func unmarkNode(ctx context.Context, t Target, node string, change func(*corev1.Node)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := t.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if change != nil {
			change(n)
		}
		delete(n.Labels, LabelFault)
		delete(n.Annotations, AnnotationWorkflow)
		delete(n.Annotations, AnnotationExpires)
		delete(n.Annotations, AnnotationRestore)
		_, err = t.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{FieldManager: "sluice-chaos"})
		return err
	})
}

// podsOn are the pods bound to node (in namespace, or all when "").
func podsOn(ctx context.Context, t Target, node, namespace string) ([]corev1.Pod, error) {
	list, err := t.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return nil, fmt.Errorf("list the pods on node %s: %w", node, err)
	}
	return list.Items, nil
}

// nodeReady says whether node's Ready condition is true.
func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
