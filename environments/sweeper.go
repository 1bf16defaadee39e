package environments

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Sweeper deletes test environments whose run was lost: past their expiry
// and with a run that is no longer running. A run's compensation deletes
// its environment in the normal case; the sweeper is for the run that was
// terminated, or whose worker and history were lost, so nothing leaks.
type Sweeper struct {
	Cluster *Cluster
	// Running reports whether a run is still going (the environment is
	// kept, however old); an error keeps the environment too.
	Running func(ctx context.Context, workflowID, runID string) (bool, error)
	Log     *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// StuckAfter is how long a namespace may stay Terminating before the
	// sweeper reports its blocking finalizers (default 5 minutes).
	StuckAfter time.Duration
}

// SweepResult is what one pass did.
type SweepResult struct {
	Deleted []string
	// Stuck are namespaces terminating for too long, with what blocks them.
	Stuck map[string]string
}

// Sweep makes one pass over Sluice's test environments.
func (s *Sweeper) Sweep(ctx context.Context) (SweepResult, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	stuckAfter := s.StuckAfter
	if stuckAfter == 0 {
		stuckAfter = 5 * time.Minute
	}
	list, err := s.Cluster.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=sluice," + LabelRun})
	if err != nil {
		return SweepResult{}, fmt.Errorf("list test environments: %w", err)
	}
	res := SweepResult{Stuck: map[string]string{}}
	for i := range list.Items {
		ns := &list.Items[i]
		if ns.DeletionTimestamp != nil {
			if now().Sub(ns.DeletionTimestamp.Time) > stuckAfter {
				res.Stuck[ns.Name] = blockers(ns)
			}
			continue
		}
		exp, err := time.Parse(time.RFC3339, ns.Annotations[AnnotationExpires])
		if err != nil || now().Before(exp) {
			continue // no expiry: not made by Setup; or not expired yet
		}
		running, err := s.Running(ctx, ns.Annotations[AnnotationWorkflow], ns.Annotations[AnnotationRun])
		if err != nil || running {
			continue
		}
		uid := ns.UID
		err = s.Cluster.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return res, fmt.Errorf("delete expired environment %s: %w", ns.Name, err)
		}
		res.Deleted = append(res.Deleted, ns.Name)
	}
	return res, nil
}

// blockers names what keeps a namespace terminating: its finalizers and
// the conditions the namespace controller reports.
func blockers(ns *corev1.Namespace) string {
	out := fmt.Sprintf("finalizers %v %v", ns.Finalizers, ns.Spec.Finalizers)
	for _, c := range ns.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			out += fmt.Sprintf("; %s: %s", c.Type, c.Message)
		}
	}
	return out
}

// Run sweeps every interval until ctx ends, logging what it deleted and
// which namespaces are stuck.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.Log.Warn("environment sweep failed", "error", err)
		case err == nil:
			for _, ns := range res.Deleted {
				s.Log.Info("deleted an expired test environment whose run is gone", "namespace", ns)
			}
			for ns, why := range res.Stuck {
				s.Log.Warn("test environment stuck terminating", "namespace", ns, "blocked_by", why)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
