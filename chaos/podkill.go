package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// killPods deletes count random running pods of the target, with grace as
// their termination grace period (nil: the pods' own). Nothing is left to
// remove afterwards: the workload's controller replaces the pods, and
// whether it did so in time is what the probe measures.
func killPods(ctx context.Context, t Target, count int, grace *time.Duration) (string, error) {
	pods, err := t.Pods(ctx)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", fmt.Errorf("%w: Service %s/%s selects no running pod", ErrTarget, t.Namespace, t.Service)
	}
	rand.Shuffle(len(pods), func(i, j int) { pods[i], pods[j] = pods[j], pods[i] })
	opts := metav1.DeleteOptions{}
	if grace != nil {
		s := int64(grace.Seconds())
		opts.GracePeriodSeconds = &s
	}
	var killed []string
	for _, p := range pods[:min(count, len(pods))] {
		uid := p.UID
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
		err := t.Client.CoreV1().Pods(t.Namespace).Delete(ctx, p.Name, opts)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return "", fmt.Errorf("delete pod %s/%s: %w", t.Namespace, p.Name, err)
		}
		killed = append(killed, p.Name)
	}
	return fmt.Sprintf("deleted %d of %d pods: %s", len(killed), len(pods), strings.Join(killed, ", ")), nil
}
