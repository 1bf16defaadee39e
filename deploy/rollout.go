// Package deploy changes workloads on Kubernetes: waits for rollouts, rolls
// Deployments back to an earlier revision, runs commands in pods.
package deploy

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

const revisionAnnotation = "deployment.kubernetes.io/revision"

// WaitRollout waits until the Deployment's newest generation is fully
// rolled out and available, or ctx ends.
func WaitRollout(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		last = fmt.Sprintf("generation %d/%d, updated %d, available %d, total %d of %d",
			st.ObservedGeneration, d.Generation, st.UpdatedReplicas, st.AvailableReplicas, st.Replicas, want)
		return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want &&
			st.AvailableReplicas == want && st.Replicas == want, nil
	})
	if err != nil {
		return fmt.Errorf("rollout of deployment %s/%s (%s): %w", ns, name, last, err)
	}
	return nil
}

// Revision returns the Deployment's current revision number.
func Revision(ctx context.Context, cs kubernetes.Interface, ns, name string) (int, error) {
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(d.Annotations[revisionAnnotation])
}

// Rollback puts the pod template of the Deployment's previous revision back,
// as `kubectl rollout undo` does, and returns the revision it restored.
func Rollback(ctx context.Context, cs kubernetes.Interface, ns, name string) (int, error) {
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return 0, err
	}
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return 0, err
	}
	current, _ := strconv.Atoi(d.Annotations[revisionAnnotation])
	var owned []appsv1.ReplicaSet
	for _, rs := range rss.Items {
		if metav1.IsControlledBy(&rs, d) {
			owned = append(owned, rs)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return rev(owned[i]) > rev(owned[j]) })
	for _, rs := range owned {
		if r := rev(rs); r < current {
			tmpl := rs.Spec.Template.DeepCopy()
			delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			d.Spec.Template = *tmpl
			if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
				return 0, fmt.Errorf("roll back %s/%s to revision %d: %w", ns, name, r, err)
			}
			return r, nil
		}
	}
	return 0, fmt.Errorf("deployment %s/%s has no revision before %d to roll back to", ns, name, current)
}

func rev(rs appsv1.ReplicaSet) int {
	r, _ := strconv.Atoi(rs.Annotations[revisionAnnotation])
	return r
}
