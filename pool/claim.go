package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// Pool operates one pool's pods: claims, renewals, releases and status.
// Several workers may hold a Pool for the same Spec; the pods are the
// shared state.
type Pool struct {
	Spec   Spec
	Client kubernetes.Interface
	// Holder names this worker on the pods it claims or renews.
	Holder string
	// ClaimTimeout bounds waiting for an idle pod. Default 2m.
	ClaimTimeout time.Duration
	// OnClaim, when set, learns how long each claim took and how it ended
	// (metrics).
	OnClaim func(pool string, took time.Duration, err error)
}

// ErrLeaseLost means the pod is gone or belongs to someone else now (the
// lease expired and the keeper deleted it).
var ErrLeaseLost = errors.New("pod lease lost")

// ErrPoolBroken is returned (wrapped, with Kubernetes' reason) when the
// pool cannot produce a Ready pod: a bad image, an impossible resource
// request, no node that matches.
var ErrPoolBroken = errors.New("pool cannot start pods")

func (p *Pool) selector(state string) string {
	s := LabelPool + "=" + p.Spec.Name
	if state != "" {
		s += "," + LabelState + "=" + state
	}
	return s
}

func (p *Pool) pods() typedcorev1.PodInterface { return p.Client.CoreV1().Pods(p.Spec.Namespace) }

// Claim returns a Ready pod leased to run: the one run already holds (build
// and test share it), or an idle one taken atomically — the update carries
// the pod's resourceVersion, so of two workers claiming one pod, one gets a
// conflict and moves on. When no pod is idle Claim waits for the keeper to
// make one, and fails at once when the pool's pods cannot start. held
// says the run already held the pod.
func (p *Pool) Claim(ctx context.Context, run string) (pod *corev1.Pod, held bool, err error) {
	start := time.Now()
	pod, held, err = p.claim(ctx, run)
	if p.OnClaim != nil {
		p.OnClaim(p.Spec.Name, time.Since(start), err)
	}
	return pod, held, err
}

func (p *Pool) claim(ctx context.Context, run string) (pod *corev1.Pod, held bool, err error) {
	timeout := p.ClaimTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		list, err := p.pods().List(ctx, metav1.ListOptions{LabelSelector: p.selector("")})
		if err != nil {
			return nil, false, p.wrap(ctx, "list pods", err)
		}
		if pod := p.heldBy(list.Items, run); pod != nil {
			pod, err := p.renew(ctx, pod, run)
			return pod, err == nil, err
		}
		for _, cand := range p.idle(list.Items) {
			pod, err := p.take(ctx, cand, run)
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				continue // another worker took it first
			}
			if err != nil {
				return nil, false, p.wrap(ctx, "claim pod "+cand.Name, err)
			}
			return pod, false, nil
		}
		if why := p.broken(list.Items); why != "" {
			return nil, false, fmt.Errorf("%w: pool %q: %s", ErrPoolBroken, p.Spec.Name, why)
		}
		if err := p.waitForChange(ctx, list.ResourceVersion); err != nil {
			return nil, false, fmt.Errorf("pool %q has no idle pod after %s (%s): %w", p.Spec.Name, timeout, summary(list.Items, p.Spec), err)
		}
	}
}

func (p *Pool) wrap(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("pool %q: %s: %w", p.Spec.Name, what, ctx.Err())
	}
	return fmt.Errorf("pool %q: %s: %w", p.Spec.Name, what, err)
}

// heldBy is the live pod run holds, if any.
func (p *Pool) heldBy(pods []corev1.Pod, run string) *corev1.Pod {
	for i := range pods {
		if pod := &pods[i]; pod.Annotations[AnnotationRun] == run && pod.Labels[LabelState] == StateClaimed && ready(pod) {
			return pod
		}
	}
	return nil
}

// idle are the claimable pods, longest Ready first.
func (p *Pool) idle(pods []corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range pods {
		if pod := &pods[i]; pod.Labels[LabelState] == StateIdle && ready(pod) {
			out = append(out, pod)
		}
	}
	slices.SortFunc(out, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	return out
}

// broken returns the reason when no unclaimed pod can become Ready.
func (p *Pool) broken(pods []corev1.Pod) string {
	var why string
	for i := range pods {
		pod := &pods[i]
		if pod.Labels[LabelState] != StateIdle || pod.DeletionTimestamp != nil {
			continue
		}
		w := problem(pod)
		if w == "" {
			return "" // one may still become Ready
		}
		why = w
	}
	return why
}

func (p *Pool) take(ctx context.Context, pod *corev1.Pod, run string) (*corev1.Pod, error) {
	pod = pod.DeepCopy()
	now := time.Now().UTC()
	pod.Labels[LabelState] = StateClaimed
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationRun] = run
	pod.Annotations[AnnotationHolder] = p.Holder
	pod.Annotations[AnnotationClaimedAt] = now.Format(time.RFC3339Nano)
	pod.Annotations[AnnotationLeaseUntil] = now.Add(time.Duration(p.Spec.LeaseTTL)).Format(time.RFC3339Nano)
	return p.pods().Update(ctx, pod, metav1.UpdateOptions{})
}

// waitForChange returns when a pod of the pool changes after rv.
func (p *Pool) waitForChange(ctx context.Context, rv string) error {
	w, err := p.pods().Watch(ctx, metav1.ListOptions{LabelSelector: p.selector(""), ResourceVersion: rv})
	if err != nil {
		return err
	}
	defer w.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.ResultChan():
		return nil
	}
}

// Renew extends run's lease on the pod by the pool's TTL.
func (p *Pool) Renew(ctx context.Context, name, run string) error {
	for range 5 {
		pod, err := p.pods().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: pod %s is gone", ErrLeaseLost, name)
		}
		if err != nil {
			return err
		}
		if _, err = p.renew(ctx, pod, run); !apierrors.IsConflict(err) {
			return err
		}
	}
	return fmt.Errorf("renew lease on pod %s: kept conflicting", name)
}

func (p *Pool) renew(ctx context.Context, pod *corev1.Pod, run string) (*corev1.Pod, error) {
	if pod.Annotations[AnnotationRun] != run || pod.DeletionTimestamp != nil {
		return nil, fmt.Errorf("%w: pod %s belongs to run %q", ErrLeaseLost, pod.Name, pod.Annotations[AnnotationRun])
	}
	pod = pod.DeepCopy()
	pod.Annotations[AnnotationHolder] = p.Holder
	pod.Annotations[AnnotationLeaseUntil] = time.Now().UTC().Add(time.Duration(p.Spec.LeaseTTL)).Format(time.RFC3339Nano)
	return p.pods().Update(ctx, pod, metav1.UpdateOptions{})
}

// Release deletes the pod: whatever ran in it stays with it.
func (p *Pool) Release(ctx context.Context, name string) error {
	pod, err := p.pods().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Labels[LabelPool] != p.Spec.Name {
		return fmt.Errorf("pod %s/%s is not in pool %q", p.Spec.Namespace, name, p.Spec.Name)
	}
	return p.delete(ctx, pod)
}

func (p *Pool) delete(ctx context.Context, pod *corev1.Pod) error {
	zero := int64(0)
	err := p.pods().Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or a different pod of that name
	}
	return err
}

// leaseExpired reports whether a claimed pod's lease has run out at now.
func leaseExpired(pod *corev1.Pod, now time.Time) bool {
	if pod.Labels[LabelState] != StateClaimed {
		return false
	}
	until, err := time.Parse(time.RFC3339Nano, pod.Annotations[AnnotationLeaseUntil])
	return err != nil || now.After(until)
}

// summary counts pods by state for messages.
func summary(pods []corev1.Pod, s Spec) string {
	var idle, starting, claimed int
	for i := range pods {
		pod := &pods[i]
		switch {
		case pod.Labels[LabelState] == StateClaimed:
			claimed++
		case ready(pod):
			idle++
		default:
			starting++
		}
	}
	parts := []string{fmt.Sprintf("%d idle", idle), fmt.Sprintf("%d starting", starting), fmt.Sprintf("%d claimed of max %d", claimed, s.MaxTotal)}
	return strings.Join(parts, ", ")
}
