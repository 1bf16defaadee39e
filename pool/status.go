package pool

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/pool/poolspec"
)

// Status is what `sluice pool list` and the console show of a pool.
type Status = poolspec.Status

// Status reads the pool's pods.
func (p *Pool) Status(ctx context.Context) (Status, error) {
	list, err := p.pods().List(ctx, metav1.ListOptions{LabelSelector: p.selector("")})
	if err != nil {
		return Status{}, fmt.Errorf("pool %q: %w", p.Spec.Name, err)
	}
	minIdle, err := p.MinIdle(ctx)
	if err != nil {
		return Status{}, err
	}
	st := Status{Name: p.Spec.Name, Namespace: p.Spec.Namespace, MinIdle: minIdle, MaxTotal: p.Spec.MaxTotal}
	for i := range list.Items {
		pod := &list.Items[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		switch {
		case pod.Labels[LabelState] == StateClaimed:
			st.Claimed++
			if at, err := time.Parse(time.RFC3339Nano, pod.Annotations[AnnotationClaimedAt]); err == nil && (st.OldestClaim.IsZero() || at.Before(st.OldestClaim)) {
				st.OldestClaim = at
			}
		case ready(pod):
			st.Idle++
		default:
			st.Starting++
			if why := problem(pod); why != "" {
				st.Problems = append(st.Problems, why)
			}
		}
	}
	return st, nil
}

// Resize stores the pool's minimum of idle pods in the cluster, where every
// worker's keeper reads it.
func (p *Pool) Resize(ctx context.Context, minIdle int) error {
	if minIdle < 0 || minIdle > p.Spec.MaxTotal {
		return fmt.Errorf("pool %q: --min %d is outside 0..%d (max_total)", p.Spec.Name, minIdle, p.Spec.MaxTotal)
	}
	if err := ensureNamespace(ctx, p.Client, p.Spec.Namespace); err != nil {
		return err
	}
	cms := p.Client.CoreV1().ConfigMaps(p.Spec.Namespace)
	key := p.Spec.Name + ".min_idle"
	for range 5 {
		cm, err := cms.Get(ctx, sizeConfigMap, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = cms.Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: sizeConfigMap, Labels: map[string]string{"app.kubernetes.io/managed-by": "sluice"}},
				Data:       map[string]string{key: strconv.Itoa(minIdle)},
			}, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return err
		}
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[key] = strconv.Itoa(minIdle)
		if _, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			return err
		}
	}
	return fmt.Errorf("pool %q: resize kept conflicting; try again", p.Spec.Name)
}

// Drain sets the pool's minimum to zero and deletes its idle pods; claimed
// pods stay with their runs. It returns how many pods it deleted.
func (p *Pool) Drain(ctx context.Context) (int, error) {
	if err := p.Resize(ctx, 0); err != nil {
		return 0, err
	}
	list, err := p.pods().List(ctx, metav1.ListOptions{LabelSelector: p.selector(StateIdle)})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		if err := p.delete(ctx, &list.Items[i]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
