package environments

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/deploy"
)

// ErrCannotRun: a Deployment's pods cannot run, and waiting will not change
// that (the image cannot be pulled, the container crashes on start, its
// configuration is invalid, no node can take it). Not worth retrying.
var ErrCannotRun = errors.New("pods cannot run")

// waitRollout waits for the Deployment, and gives up at once when one of
// its pods cannot run (ErrCannotRun), with the reason and, for a crashing
// container, its last log lines.
func (c *Cluster) waitRollout(ctx context.Context, ns string, w Workload) error {
	ls, wait, err := c.workload(ctx, ns, w)
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				why := c.podProblems(ctx, ns, sel.String(), true)
				if why == "" {
					why = c.createProblems(ctx, ns, sel.String())
				}
				if why != "" {
					cancel(fmt.Errorf("%w: %s", ErrCannotRun, why))
					return
				}
			}
		}
	}()
	err = wait(ctx)
	if errors.Is(err, deploy.ErrJobFailed) {
		return fmt.Errorf("%w: %v%s", ErrCannotRun, err, c.podProblems(context.WithoutCancel(ctx), ns, sel.String(), false)) //nolint:errorlint // only ErrCannotRun classifies it: the cause is text
	}
	if cause := context.Cause(ctx); err != nil && cause != nil && errors.Is(cause, ErrCannotRun) {
		return cause
	}
	if err != nil {
		return fmt.Errorf("%w%s", err, c.podProblems(context.WithoutCancel(ctx), ns, sel.String(), false))
	}
	return nil
}

// workload returns a workload's pod selector and the wait for its rollout.
func (c *Cluster) workload(ctx context.Context, ns string, w Workload) (*metav1.LabelSelector, func(context.Context) error, error) {
	apps := c.Client.AppsV1()
	switch w.Kind {
	case "Deployment":
		d, err := apps.Deployments(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		return d.Spec.Selector, func(ctx context.Context) error { return deploy.WaitRollout(ctx, c.Client, ns, w.Name) }, nil
	case "StatefulSet":
		s, err := apps.StatefulSets(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		return s.Spec.Selector, func(ctx context.Context) error { return deploy.WaitStatefulSet(ctx, c.Client, ns, w.Name) }, nil
	case "DaemonSet":
		d, err := apps.DaemonSets(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		return d.Spec.Selector, func(ctx context.Context) error { return deploy.WaitDaemonSet(ctx, c.Client, ns, w.Name) }, nil
	case "Job":
		j, err := c.Client.BatchV1().Jobs(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		return j.Spec.Selector, func(ctx context.Context) error { return deploy.WaitJob(ctx, c.Client, ns, w.Name) }, nil
	}
	return nil, nil, fmt.Errorf("cannot wait for a %s", w.Kind)
}

// fatalReasons are container waiting reasons that do not fix themselves.
var fatalReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CrashLoopBackOff": true, "CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// podProblems names why the selected pods are not running: with fatal,
// only what will not fix itself, as a message; otherwise every waiting
// reason, as a suffix for errors.
func (c *Cluster) podProblems(ctx context.Context, ns, selector string, fatal bool) string {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return ""
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				out = append(out, fmt.Sprintf("pod %s: Unschedulable: %s", p.Name, cond.Message))
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			w := cs.State.Waiting
			if w == nil || w.Reason == "" || (fatal && !fatalReasons[w.Reason]) {
				continue
			}
			msg := fmt.Sprintf("pod %s: %s: %s", p.Name, w.Reason, w.Message)
			if w.Reason == "CrashLoopBackOff" {
				msg += c.lastLines(ctx, ns, p.Name, cs.Name)
			}
			out = append(out, msg)
		}
	}
	switch {
	case len(out) == 0:
		return ""
	case fatal:
		return strings.Join(out, "; ")
	}
	return " (" + strings.Join(out, "; ") + ")"
}

// createProblems names pods the workload's controller may not create and
// never will: ReplicaSets whose pods Pod Security refuses (the namespace's
// level forbids what the pod asks for: host namespaces, privileged
// containers, host paths). Without pods, podProblems sees nothing.
func (c *Cluster) createProblems(ctx context.Context, ns, selector string) string {
	rss, err := c.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return ""
	}
	var out []string
	for _, rs := range rss.Items {
		for _, cond := range rs.Status.Conditions {
			if cond.Type == appsv1.ReplicaSetReplicaFailure && cond.Status == corev1.ConditionTrue && strings.Contains(cond.Message, "violates PodSecurity") {
				out = append(out, fmt.Sprintf("replicaset %s: %s: %s", rs.Name, cond.Reason, cond.Message))
			}
		}
	}
	return strings.Join(out, "; ")
}

// lastLines are the last log lines of a crashed container's previous run.
func (c *Cluster) lastLines(ctx context.Context, ns, pod, container string) string {
	tail := int64(10)
	b, err := c.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: true, TailLines: &tail, LimitBytes: ptr(int64(4096))}).DoRaw(ctx)
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return ""
	}
	return "; its last output:\n" + strings.TrimRight(string(b), "\n")
}

func ptr[T any](v T) *T { return &v }
