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
//
// A retried injection must not kill more pods than asked: chose is told
// the pods before any is deleted (the activity heartbeats them), and prior,
// when an earlier attempt chose, is deleted instead of a new choice (pods
// already gone are fine).
func killPods(ctx context.Context, t Target, count int, grace *time.Duration, prior []string, chose func([]string)) (string, error) {
	opts := metav1.DeleteOptions{}
	if grace != nil {
		s := int64(grace.Seconds())
		opts.GracePeriodSeconds = &s
	}
	if len(prior) > 0 {
		for _, name := range prior {
			err := t.Client.CoreV1().Pods(t.Namespace).Delete(ctx, name, opts)
			if err != nil && !apierrors.IsNotFound(err) {
				return "", fmt.Errorf("delete pod %s/%s: %w", t.Namespace, name, err)
			}
		}
		return fmt.Sprintf("deleted %d pods (chosen by an earlier attempt): %s", len(prior), strings.Join(prior, ", ")), nil
	}
	pods, err := t.Pods(ctx)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", fmt.Errorf("%w: Service %s/%s selects no running pod", ErrTarget, t.Namespace, t.Service)
	}
	total := len(pods)
	rand.Shuffle(len(pods), func(i, j int) { pods[i], pods[j] = pods[j], pods[i] })
	pods = pods[:min(count, len(pods))]
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	if chose != nil {
		chose(names)
	}
	for _, p := range pods {
		uid := p.UID
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
		err := t.Client.CoreV1().Pods(t.Namespace).Delete(ctx, p.Name, opts)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return "", fmt.Errorf("delete pod %s/%s: %w", t.Namespace, p.Name, err)
		}
	}
	return fmt.Sprintf("deleted %d of %d pods: %s", len(names), total, strings.Join(names, ", ")), nil
}
