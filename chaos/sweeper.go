package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/contract"
)

// Sweeper removes faults past their expiry: the bound on every fault that
// holds even when its workflow was terminated or its worker is gone. Every
// worker with a cluster runs one.
type Sweeper struct {
	Client kubernetes.Interface
	// Power starts nodes a node-down left off (nil: they are reported).
	Power NodePower
	Log   *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Sweep makes one pass and returns what it restored ("namespace/name"
// for Deployments, "node/name" for nodes).
func (s *Sweeper) Sweep(ctx context.Context) ([]string, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	// No readable expiry: a fault that cannot say when it ends is removed
	// now.
	expired := func(n corev1.Node) bool {
		exp, err := time.Parse(time.RFC3339, n.Annotations[AnnotationExpires])
		return err != nil || !now().Before(exp)
	}
	t := Target{Client: s.Client}
	var out []string
	drained, err := uncordon(ctx, t, "", expired)
	for _, n := range drained {
		out = append(out, "node/"+n)
		s.warn("chaos node drain expired: uncordoned", "node", n)
	}
	if err != nil {
		return out, err
	}
	for _, kind := range []string{contract.FaultNodeDown, contract.FaultZoneDown} {
		up, err := nodesUp(ctx, t, s.Power, kind, "", expired)
		for _, n := range up {
			out = append(out, "node/"+n)
			s.warn("chaos "+kind+" expired: node powered on", "node", n)
		}
		if err != nil {
			return out, err
		}
	}
	list, err := s.Client.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: LabelFault})
	if err != nil {
		return nil, fmt.Errorf("list Deployments with chaos faults: %w", err)
	}
	for _, d := range list.Items {
		exp, err := time.Parse(time.RFC3339, d.Annotations[AnnotationExpires])
		if err == nil && now().Before(exp) {
			continue
		}
		// No readable expiry: a fault that cannot say when it ends is
		// removed now.
		done, err := restoreUpgrades(ctx, Target{Client: s.Client, Namespace: d.Namespace}, d.Name, "")
		if err != nil {
			return out, err
		}
		for _, n := range done {
			out = append(out, d.Namespace+"/"+n)
			s.warn("chaos fault expired: removed", "deployment", d.Namespace+"/"+n, "workflow", d.Annotations[AnnotationWorkflow])
		}
	}
	return out, nil
}

func (s *Sweeper) warn(msg string, args ...any) {
	if s.Log != nil {
		s.Log.Warn(msg, args...)
	}
}

// Run sweeps every interval until ctx ends; errors are logged.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil && s.Log != nil {
			s.Log.Warn("chaos sweep", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
