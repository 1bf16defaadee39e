// Package deploy is Sluice's Kubernetes toolkit: every client's connection
// and request limits (config.go), server-side apply with the guard that
// refuses what would leave its namespace (apply.go), rollout waits,
// rolling a Deployment back to an earlier revision, and running commands
// in pods (exec.go), for the test environments, releases, pools and chaos
// experiments alike.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
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

// WaitStatefulSet waits until every replica of the StatefulSet's newest
// revision is ready, or ctx ends.
func WaitStatefulSet(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := int32(1)
		if s.Spec.Replicas != nil {
			want = *s.Spec.Replicas
		}
		st := s.Status
		last = fmt.Sprintf("generation %d/%d, updated %d, ready %d of %d", st.ObservedGeneration, s.Generation, st.UpdatedReplicas, st.ReadyReplicas, want)
		return st.ObservedGeneration >= s.Generation && st.UpdatedReplicas == want && st.ReadyReplicas == want &&
			(st.UpdateRevision == "" || st.CurrentRevision == st.UpdateRevision), nil
	})
	if err != nil {
		return fmt.Errorf("rollout of statefulset %s/%s (%s): %w", ns, name, last, err)
	}
	return nil
}

// WaitDaemonSet waits until the DaemonSet's newest pods run, available, on
// every node it targets, or ctx ends.
func WaitDaemonSet(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := d.Status
		last = fmt.Sprintf("generation %d/%d, updated %d, available %d of %d", st.ObservedGeneration, d.Generation, st.UpdatedNumberScheduled, st.NumberAvailable, st.DesiredNumberScheduled)
		return st.ObservedGeneration >= d.Generation && st.UpdatedNumberScheduled == st.DesiredNumberScheduled &&
			st.NumberAvailable == st.DesiredNumberScheduled, nil
	})
	if err != nil {
		return fmt.Errorf("rollout of daemonset %s/%s (%s): %w", ns, name, last, err)
	}
	return nil
}

// ErrJobFailed: a Job ran out of retries.
var ErrJobFailed = errors.New("job failed")

// WaitJob waits until the Job completes; a failed Job is ErrJobFailed.
func WaitJob(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	var failed string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			switch {
			case c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue:
				return true, nil
			case c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue:
				failed = c.Reason + ": " + c.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("job %s/%s did not complete: %w", ns, name, err)
	}
	if failed != "" {
		return fmt.Errorf("%w: job %s/%s: %s", ErrJobFailed, ns, name, failed)
	}
	return nil
}
