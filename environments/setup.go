package environments

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations of a test environment's namespace: what the
// sweeper needs to find a lost run's environment and ask Temporal about it.
const (
	LabelPipeline      = "sluice.dev/pipeline"
	AnnotationWorkflow = "sluice.dev/workflow"
	AnnotationRun      = "sluice.dev/run"
	AnnotationCommit   = "sluice.dev/commit"
	AnnotationExpires  = "sluice.dev/expires"
)

// Env describes a run's test environment.
type Env struct {
	Namespace string
	Pipeline  string
	Workflow  string
	Run       string
	Commit    string
	// TTL is how long the environment may outlive its start when its run is
	// lost; the sweeper deletes it after that (0: DefaultTTL).
	TTL time.Duration
	// CPU and Memory bound the namespace (Kubernetes quantities; empty:
	// unbounded).
	CPU, Memory string
}

// DefaultTTL is a test environment's expiry when the spec sets none.
const DefaultTTL = 2 * time.Hour

// Setup makes the run's namespace (or accepts the one an earlier attempt
// of the same run made), labelled and annotated for the sweeper, with a
// ResourceQuota and LimitRange from the spec's quota and a NetworkPolicy
// that admits traffic from inside the namespace only.
func (c *Cluster) Setup(ctx context.Context, e Env, log io.Writer) error {
	ttl := e.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: e.Namespace,
		Labels: map[string]string{
			LabelRun: LabelValue(e.Run), LabelManagedBy: "sluice", LabelPipeline: LabelValue(e.Pipeline),
			LabelPodSecurity: PodSecurityLevel,
		},
		Annotations: map[string]string{
			AnnotationWorkflow: e.Workflow, AnnotationRun: e.Run, AnnotationCommit: e.Commit,
			AnnotationExpires: time.Now().Add(ttl).UTC().Format(time.RFC3339),
		},
	}}
	if err := c.ensureNamespace(ctx, ns, e.Run); err != nil {
		return err
	}
	if e.CPU != "" || e.Memory != "" {
		if err := c.quota(ctx, e); err != nil {
			return err
		}
		fmt.Fprintf(log, "environment: quota cpu=%s memory=%s\n", orDash(e.CPU), orDash(e.Memory))
	}
	return c.isolate(ctx, e.Namespace)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// quota bounds the namespace; the LimitRange gives containers that name no
// resources a share, so the quota admits them.
func (c *Cluster) quota(ctx context.Context, e Env) error {
	hard := corev1.ResourceList{}
	defaults := corev1.ResourceList{}
	for name, q := range map[corev1.ResourceName]string{corev1.ResourceCPU: e.CPU, corev1.ResourceMemory: e.Memory} {
		if q == "" {
			continue
		}
		v, err := resource.ParseQuantity(q)
		if err != nil {
			return fmt.Errorf("environments.test.quota.%s %q: %w", name, q, err)
		}
		hard["limits."+name], hard["requests."+name] = v, v
		// a quarter of the namespace per container unless it says otherwise
		defaults[name] = *resource.NewMilliQuantity(v.MilliValue()/4, v.Format)
	}
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "sluice-quota", Labels: map[string]string{LabelManagedBy: "sluice"}},
		Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	if _, err := c.Client.CoreV1().ResourceQuotas(e.Namespace).Create(ctx, rq, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("resource quota: %w", err)
	}
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "sluice-limits", Labels: map[string]string{LabelManagedBy: "sluice"}},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Default: defaults, DefaultRequest: defaults,
		}}}}
	if _, err := c.Client.CoreV1().LimitRanges(e.Namespace).Create(ctx, lr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("limit range: %w", err)
	}
	return nil
}

// isolate admits ingress only from pods of the same namespace. (Enforced by
// network plugins that implement NetworkPolicy; the local platform's bridge
// plugin does not.)
func (c *Cluster) isolate(ctx context.Context, ns string) error {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "sluice-same-namespace", Labels: map[string]string{LabelManagedBy: "sluice"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
		},
	}
	if _, err := c.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("network policy: %w", err)
	}
	return nil
}
