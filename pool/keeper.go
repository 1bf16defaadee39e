package pool

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Keeper keeps every pool at its minimum of idle pods: it creates pods
// when idle plus starting fall short, deletes pods whose lease expired or
// that ended, and never goes past MaxTotal. Of several workers, only the
// holder of a coordination.k8s.io Lease keeps pools, so two never refill
// the same shortfall.
type Keeper struct {
	Client kubernetes.Interface
	Pools  []*Pool
	// Identity names this worker in the leader Lease.
	Identity string
	// LeaseNamespace holds the leader Lease. Default: the first pool's.
	LeaseNamespace string
	Log            *slog.Logger
	// Resync is how often pools are checked without an event. Default 2s.
	Resync time.Duration
}

// LeaseName is the leader election Lease of pool keepers.
const LeaseName = "sluice-pool-keeper"

// Run keeps the pools until ctx ends, whenever this worker is the leader.
func (k *Keeper) Run(ctx context.Context) error {
	if len(k.Pools) == 0 {
		return nil
	}
	ns := k.LeaseNamespace
	if ns == "" {
		ns = k.Pools[0].Spec.Namespace
	}
	if err := ensureNamespace(ctx, k.Client, ns); err != nil {
		return err
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: LeaseName, Namespace: ns},
		Client:     k.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: k.Identity},
	}
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   15 * time.Second,
			RenewDeadline:   10 * time.Second,
			RetryPeriod:     2 * time.Second,
			ReleaseOnCancel: true,
			Name:            LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: k.lead,
				OnStoppedLeading: func() { k.log().Info("pool keeper: no longer the leader", "identity", k.Identity) },
			},
		})
	}
	return nil
}

func (k *Keeper) log() *slog.Logger {
	if k.Log == nil {
		return slog.Default()
	}
	return k.Log
}

// lead reconciles on every pod event of a pool and on the resync tick.
func (k *Keeper) lead(ctx context.Context) {
	k.log().Info("pool keeper: leading", "identity", k.Identity)
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	seen := map[string]bool{}
	for _, p := range k.Pools {
		if seen[p.Spec.Namespace] {
			continue
		}
		seen[p.Spec.Namespace] = true
		if err := ensureNamespace(ctx, k.Client, p.Spec.Namespace); err != nil {
			k.log().Error("pool keeper: namespace", "namespace", p.Spec.Namespace, "error", err)
		}
		f := informers.NewSharedInformerFactoryWithOptions(k.Client, 0, informers.WithNamespace(p.Spec.Namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelPool }))
		_, _ = f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: poke, UpdateFunc: func(_, n any) { poke(n) }, DeleteFunc: poke,
		})
		f.Start(ctx.Done())
	}
	every := k.Resync
	if every == 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, p := range k.Pools {
			if err := k.Reconcile(ctx, p); err != nil && ctx.Err() == nil {
				k.log().Warn("pool keeper", "pool", p.Spec.Name, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
	}
}

// Reconcile is one pass over a pool: delete what must go, then create what
// is missing. It reads the pods from the API server, not a cache, so a pod
// it just created is never counted as missing.
func (k *Keeper) Reconcile(ctx context.Context, p *Pool) error {
	list, err := p.pods().List(ctx, metav1.ListOptions{LabelSelector: p.selector("")})
	if err != nil {
		return err
	}
	minIdle, err := p.MinIdle(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	var idle []*corev1.Pod // ready, starting, or unable to start
	total := 0
	for i := range list.Items {
		pod := &list.Items[i]
		switch {
		case pod.DeletionTimestamp != nil:
			continue
		case leaseExpired(pod, now):
			k.log().Info("pool keeper: lease expired, deleting pod", "pool", p.Spec.Name, "pod", pod.Name, "run", pod.Annotations[AnnotationRun])
		case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
		default:
			total++
			if pod.Labels[LabelState] == StateIdle {
				idle = append(idle, pod)
			}
			continue
		}
		if err := p.delete(ctx, pod); err != nil {
			return err
		}
	}
	// a pool resized down or drained: the newest idle pods go first
	slices.SortFunc(idle, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	for len(idle) > minIdle {
		last := idle[len(idle)-1]
		if err := p.delete(ctx, last); err != nil {
			return err
		}
		idle, total = idle[:len(idle)-1], total-1
	}
	// a pod that cannot start counts as idle, so a bad image does not
	// produce a crowd of failing pods; claims read its reason
	for n := len(idle); n < minIdle && total < p.Spec.MaxTotal; n, total = n+1, total+1 {
		if _, err := p.pods().Create(ctx, podFor(p.Spec), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod: %w", err)
		}
	}
	return nil
}

// sizeConfigMap holds pool sizes set with `sluice pool resize` and `drain`:
// data "<pool>.min_idle". It lives in the pool's namespace so every worker
// reads the same value.
const sizeConfigMap = "sluice-pools"

// MinIdle is the pool's minimum of idle pods: a resize stored in the
// cluster, or the configuration's.
func (p *Pool) MinIdle(ctx context.Context) (int, error) {
	cm, err := p.Client.CoreV1().ConfigMaps(p.Spec.Namespace).Get(ctx, sizeConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return p.Spec.MinIdle, nil
	}
	if err != nil {
		return 0, err
	}
	v, ok := cm.Data[p.Spec.Name+".min_idle"]
	if !ok {
		return p.Spec.MinIdle, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return p.Spec.MinIdle, nil
	}
	return min(n, p.Spec.MaxTotal), nil
}

func ensureNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "sluice"},
	}}, metav1.CreateOptions{})
	// a worker with least privilege may not create namespaces: the
	// installation made this one (deploy/kubernetes)
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	return nil
}
