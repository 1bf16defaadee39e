// Package agent is the Sluice node agent: a privileged process on every
// node (a DaemonSet sharing the host's PID namespace) that enforces the
// network faults chaos experiments ask for on the pods of its node. It
// reads what to do from the pods themselves (chaos.Annotation*), applies it
// with nftables inside each pod's network namespace, reports what it
// applied, and removes the rules when the fault is taken back or its expiry
// passes — also when no worker is left to ask. It does not know Temporal.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/chaos"
)

var errHostNetwork = errors.New("the pod is on the host's network namespace")

// Agent looks after the network faults of one node's pods.
type Agent struct {
	Client kubernetes.Interface
	// Node is the node whose pods it looks after.
	Node string
	// Proc is where the host's processes are listed ("/proc").
	Proc string
	Log  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Run reconciles every interval until ctx ends.
func (a *Agent) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := a.Reconcile(ctx); err != nil && ctx.Err() == nil {
			a.Log.Warn("chaos agent", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Reconcile makes one pass over the node's pods marked for a network
// fault: rules applied where a current spec asks for them, removed (and
// the marks dropped) where none does or it expired.
func (a *Agent) Reconcile(ctx context.Context) error {
	list, err := a.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		LabelSelector: chaos.LabelFault + "=network",
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", a.Node).String(),
	})
	if err != nil {
		return fmt.Errorf("list the pods of node %s with network faults: %w", a.Node, err)
	}
	var errs []error
	for i := range list.Items {
		if err := a.pod(ctx, &list.Items[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d pods: first: %w", len(errs), errs[0])
	}
	return nil
}

func (a *Agent) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Agent) pod(ctx context.Context, p *corev1.Pod) error {
	name := p.Namespace + "/" + p.Name
	raw := p.Annotations[chaos.AnnotationNetwork]
	spec, perr := chaos.ParseNetworkSpec(raw)
	// Anyone who can patch a pod can ask: only the pod's own namespace is
	// ever changed, never the host's.
	want := raw != "" && perr == nil && a.now().Before(spec.Expires) && p.DeletionTimestamp == nil && !p.Spec.HostNetwork
	if want && p.Annotations[chaos.AnnotationNetworkApplied] == spec.Digest() {
		// in place already: no /proc scan on every pass of a held fault
		return nil
	}
	ns, err := podNetNS(a.proc(), string(p.UID))
	if err == nil && p.Spec.HostNetwork {
		err = errHostNetwork
	}
	if err == nil {
		// and in case the API says otherwise than the kernel: the
		// namespace of the host's init (when it can be read)
		if shared, herr := sameNetNS(ns, filepath.Join(a.proc(), "1", "ns", "net")); herr == nil && shared {
			want, err = false, errHostNetwork
		}
	}
	if errors.Is(err, errHostNetwork) && raw != "" {
		a.Log.Warn("chaos agent: refusing a network fault on a pod on the host's network", "pod", name)
	}
	if err != nil && want {
		return fmt.Errorf("pod %s: %w", name, err)
	}
	if want {
		err := withNetNS(ns, func(fd int) error { return applyRules(fd, spec) })
		if err != nil {
			return fmt.Errorf("apply the network fault to pod %s: %w", name, err)
		}
		a.Log.Info("chaos network fault applied", "pod", name, "loss", spec.Loss, "partition", spec.Partition, "peers", spec.Peers, "expires", spec.Expires)
		return a.patch(ctx, p, map[string]any{"annotations": map[string]string{chaos.AnnotationNetworkApplied: spec.Digest()}})
	}
	// Taken back, expired, unreadable, refused or the pod is going: no
	// rules. A pod whose processes are gone has no network namespace left
	// to clean; one on the host's network never had rules of ours.
	if err == nil {
		if err := withNetNS(ns, removeRules); err != nil {
			return fmt.Errorf("remove the network fault from pod %s: %w", name, err)
		}
	}
	why := "taken back"
	if raw != "" {
		why = "expired"
	}
	a.Log.Info("chaos network fault removed", "pod", name, "why", why)
	return a.patch(ctx, p, map[string]any{
		"labels":      map[string]any{chaos.LabelFault: nil},
		"annotations": map[string]any{chaos.AnnotationNetwork: nil, chaos.AnnotationNetworkApplied: nil},
	})
}

func (a *Agent) proc() string {
	if a.Proc == "" {
		return "/proc"
	}
	return a.Proc
}

func (a *Agent) patch(ctx context.Context, p *corev1.Pod, meta map[string]any) error {
	b, _ := json.Marshal(map[string]any{"metadata": meta})
	_, err := a.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, b, metav1.PatchOptions{FieldManager: "sluice-agent"})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("report on pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}
