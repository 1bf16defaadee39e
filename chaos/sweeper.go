package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Sweeper removes faults past their expiry: the bound on every fault that
// holds even when its workflow was terminated or its worker is gone. Every
// worker with a cluster runs one.
type Sweeper struct {
	Client kubernetes.Interface
	Log    *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Sweep makes one pass and returns what it restored ("namespace/name").
func (s *Sweeper) Sweep(ctx context.Context) ([]string, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	list, err := s.Client.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: LabelFault})
	if err != nil {
		return nil, fmt.Errorf("list Deployments with chaos faults: %w", err)
	}
	var out []string
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
			if s.Log != nil {
				s.Log.Warn("chaos fault expired: removed", "deployment", d.Namespace+"/"+n, "workflow", d.Annotations[AnnotationWorkflow])
			}
		}
	}
	return out, nil
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
