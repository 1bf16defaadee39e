package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
	return p.ClaimFor(ctx, Claimant{Run: run})
}

// Claimant is who claims a pod: a run, and the project whose share of the
// pool it counts against.
type Claimant struct {
	Run string
	// Project and Share: the project may hold at most Share of the pool's
	// pods at once (0: no share); a claim beyond it waits for one of the
	// project's pods to go back, without the claim timeout.
	Project string
	Share   int
	// Waiting, when set, is told why the claim waits, once.
	Waiting func(why string)
}

// ClaimFor is Claim for a claimant with a project's share.
func (p *Pool) ClaimFor(ctx context.Context, c Claimant) (pod *corev1.Pod, held bool, err error) {
	start := time.Now()
	pod, held, err = p.claim(ctx, c)
	if p.OnClaim != nil {
		p.OnClaim(p.Spec.Name, time.Since(start), err)
	}
	return pod, held, err
}

func (p *Pool) claim(ctx context.Context, c Claimant) (pod *corev1.Pod, held bool, err error) {
	run := c.Run
	timeout := p.ClaimTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	// the timeout bounds waiting for an idle pod; waiting for the
	// project's share restarts it
	deadline := time.Now().Add(timeout)
	told := false
	for {
		list, err := p.pods().List(ctx, metav1.ListOptions{LabelSelector: p.selector("")})
		if err != nil {
			return nil, false, p.wrap(ctx, "list pods", err)
		}
		if pod := p.heldBy(list.Items, run); pod != nil {
			pod, err := p.renew(ctx, pod, run)
			return pod, err == nil, err
		}
		if held := p.projectHolds(list.Items, c.Project); c.Share > 0 && held >= c.Share {
			if c.Waiting != nil && !told {
				c.Waiting(fmt.Sprintf("waiting for a pod of pool %s: project %s holds %d of them, its share (projects[%s].quota.pool_pods.%s)", p.Spec.Name, c.Project, held, c.Project, p.Spec.Name))
				told = true
			}
			if err := p.waitForChange(ctx, list.ResourceVersion); err != nil {
				return nil, false, fmt.Errorf("pool %q: waiting for project %s's share: %w", p.Spec.Name, c.Project, err)
			}
			deadline = time.Now().Add(timeout)
			continue
		}
		for _, cand := range p.idle(list.Items) {
			pod, err := p.take(ctx, cand, c)
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				continue // another worker took it first
			}
			if err != nil {
				return nil, false, p.wrap(ctx, "claim pod "+cand.Name, err)
			}
			if c.Share > 0 {
				// two claims of the project may have counted at once:
				// the later claims beyond the share give their pods back
				if over, err := p.overShare(ctx, pod, c); err != nil || over {
					if err != nil {
						return nil, false, p.wrap(ctx, "count project "+c.Project+"'s pods", err)
					}
					// apart from a claim that gave its pod back too
					select {
					case <-time.After(time.Duration(50+rand.IntN(200)) * time.Millisecond):
					case <-ctx.Done():
						return nil, false, p.wrap(ctx, "wait for project "+c.Project+"'s share", ctx.Err())
					}
					break
				}
			}
			return pod, false, nil
		}
		if why := p.broken(list.Items); why != "" {
			return nil, false, fmt.Errorf("%w: pool %q: %s", ErrPoolBroken, p.Spec.Name, why)
		}
		if err := p.waitUntil(ctx, deadline, list.ResourceVersion); err != nil {
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

// projectHolds counts the live claimed pods of project.
func (p *Pool) projectHolds(pods []corev1.Pod, project string) int {
	n := 0
	now := time.Now()
	for i := range pods {
		pod := &pods[i]
		if project != "" && pod.Annotations[AnnotationProject] == project && pod.Labels[LabelState] == StateClaimed &&
			pod.DeletionTimestamp == nil && !leaseExpired(pod, now) {
			n++
		}
	}
	return n
}

// overShare checks, after mine was claimed for c, whether the project now
// holds more than its share; then mine goes back to idle and true.
func (p *Pool) overShare(ctx context.Context, mine *corev1.Pod, c Claimant) (bool, error) {
	list, err := p.pods().List(ctx, metav1.ListOptions{LabelSelector: p.selector(StateClaimed)})
	if err != nil {
		return false, err
	}
	var held []*corev1.Pod
	now := time.Now()
	for i := range list.Items {
		pod := &list.Items[i]
		if pod.Annotations[AnnotationProject] == c.Project && pod.DeletionTimestamp == nil && !leaseExpired(pod, now) {
			held = append(held, pod)
		}
	}
	// Whoever sees more holders than the share gives its own pod back:
	// the last of two claims to be written always sees both (its list
	// follows its write), so the share holds without trusting anyone's
	// clock; when both see both, both retry after a random pause.
	if len(held) <= c.Share {
		return false, nil
	}
	// the kubelet may have written the pod's status since it was taken:
	// a conflict is read again, and the pod given back while it is ours
	for range 5 {
		back := mine.DeepCopy()
		back.Labels[LabelState] = StateIdle
		for _, a := range []string{AnnotationRun, AnnotationHolder, AnnotationClaimedAt, AnnotationLeaseUntil, AnnotationProject} {
			delete(back.Annotations, a)
		}
		_, err := p.pods().Update(ctx, back, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err == nil, err
		}
		if mine, err = p.pods().Get(ctx, mine.Name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		if mine.Annotations[AnnotationRun] != c.Run || mine.Labels[LabelState] != StateClaimed {
			return true, nil // not ours any more
		}
	}
	return false, fmt.Errorf("give pod %s back: kept conflicting", mine.Name)
}

func (p *Pool) take(ctx context.Context, pod *corev1.Pod, c Claimant) (*corev1.Pod, error) {
	run := c.Run
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
	if c.Project != "" {
		pod.Annotations[AnnotationProject] = c.Project
	}
	return p.pods().Update(ctx, pod, metav1.UpdateOptions{})
}

// waitUntil is waitForChange that gives up at deadline.
func (p *Pool) waitUntil(ctx context.Context, deadline time.Time, rv string) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return p.waitForChange(ctx, rv)
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
