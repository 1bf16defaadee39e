package environments

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sluice-cd/sluice/deploy"
)

// Cluster is where environments live.
type Cluster struct {
	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface

	applierOnce sync.Once
	apply       *deploy.Applier
}

// NewCluster connects to the cluster of cfg.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	cfg = deploy.WithClientLimits(cfg)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Cluster{Config: cfg, Client: cs, Dynamic: dc}, nil
}

// Labels on everything Sluice makes for a run.
const (
	LabelRun       = "sluice.dev/run"
	LabelManagedBy = "app.kubernetes.io/managed-by"
)

// A test environment's pods run under Pod Security "baseline": no
// privileged containers, host namespaces or host paths. The in-cluster
// install's fence (deploy/kubernetes/deployer) refuses a namespace
// without it, so a worker's rights to deploy cannot become rights on the
// nodes.
const (
	LabelPodSecurity = "pod-security.kubernetes.io/enforce"
	PodSecurityLevel = "baseline"
)

// EnsureNamespace creates the run's namespace (labelled with the run), or
// accepts it when it exists already for the same run (a retried attempt).
func (c *Cluster) EnsureNamespace(ctx context.Context, ns, run string) error {
	return c.ensureNamespace(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{LabelRun: LabelValue(run), LabelManagedBy: "sluice", LabelPodSecurity: PodSecurityLevel},
	}}, run)
}

func (c *Cluster) ensureNamespace(ctx context.Context, want *corev1.Namespace, run string) error {
	ns := want.Name
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, gerr := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if got.Labels[LabelRun] != LabelValue(run) {
			return fmt.Errorf("namespace %s exists and is not this run's (label %s=%q)", ns, LabelRun, got.Labels[LabelRun])
		}
		if got.DeletionTimestamp != nil {
			return fmt.Errorf("namespace %s is being deleted; try again when it is gone", ns)
		}
		return nil
	}
	return err
}

// DeleteNamespace deletes a run's namespace and everything in it. A
// namespace that is gone already is fine; one that is not the run's is left.
func (c *Cluster) DeleteNamespace(ctx context.Context, ns, run string) error {
	got, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if got.Labels[LabelRun] != LabelValue(run) {
		return nil
	}
	err = c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &got.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// LabelValue fits a run id into a label value (63 characters).
func LabelValue(s string) string {
	if len(s) > 63 {
		s = s[len(s)-63:]
	}
	return strings.Trim(s, "-_.")
}

// Apply server-side applies objs into ns (field manager "sluice", conflicts
// forced: the environment is Sluice's) and waits for every Deployment to
// roll out, writing what it does to log.
func (c *Cluster) Apply(ctx context.Context, ns, run string, objs []*unstructured.Unstructured, log io.Writer) error {
	deployments, err := c.ApplyObjects(ctx, ns, map[string]string{LabelRun: LabelValue(run)}, objs, log)
	if err != nil {
		return err
	}
	if err := c.WaitWorkloads(ctx, ns, deployments, log); err != nil {
		return err
	}
	// what comes next (the integration suite) reaches the app through its
	// Services: wait until they route to the new pods
	for _, o := range objs {
		if o.GetKind() != "Service" {
			continue
		}
		if sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector"); len(sel) == 0 {
			continue
		}
		if err := c.WaitEndpoints(ctx, ns, o.GetName()); err != nil {
			fmt.Fprintf(log, "warning: %v\n", err) // a Service for pods these manifests do not make
		}
	}
	return nil
}

// Workload is an applied object whose rollout can be waited for.
type Workload struct{ Kind, Name string }

func (w Workload) String() string { return strings.ToLower(w.Kind) + "/" + w.Name }

// workloadKinds are the kinds WaitWorkloads waits for.
var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "Job": true}

// ApplyObjects server-side applies objs into ns with labels added (and
// app.kubernetes.io/managed-by=sluice) and returns the workloads among
// them (Deployments, StatefulSets, DaemonSets, Jobs), without waiting.
// Every object is checked before any is applied (deploy.Applier.Guard):
// one refused object applies nothing.
func (c *Cluster) ApplyObjects(ctx context.Context, ns string, labels map[string]string, objs []*unstructured.Unstructured, log io.Writer) ([]Workload, error) {
	var deployments []Workload
	for _, o := range objs {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range labels {
			l[k] = v
		}
		l[LabelManagedBy] = "sluice"
		o.SetLabels(l)
		if workloadKinds[o.GetKind()] {
			deployments = append(deployments, Workload{Kind: o.GetKind(), Name: o.GetName()})
		}
	}
	if err := c.applier().Apply(ctx, ns, objs, log); err != nil {
		return nil, err
	}
	return deployments, nil
}

// DeleteObjects deletes objs from ns; objects already gone are fine.
func (c *Cluster) DeleteObjects(ctx context.Context, ns string, objs []*unstructured.Unstructured, log io.Writer) error {
	return c.applier().Delete(ctx, ns, objs, log)
}

// ErrRefused is a manifest Sluice will not apply (deploy.ErrRefused).
var ErrRefused = deploy.ErrRefused

func (c *Cluster) applier() *deploy.Applier {
	c.applierOnce.Do(func() { c.apply = &deploy.Applier{Discovery: c.Client.Discovery(), Dynamic: c.Dynamic} })
	return c.apply
}

// WaitWorkloads waits for each workload of ns to roll out (a Job: to
// complete), within ctx's deadline or RolloutTimeout, failing fast when its
// pods cannot run.
func (c *Cluster) WaitWorkloads(ctx context.Context, ns string, deployments []Workload, log io.Writer) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, RolloutTimeout)
		defer cancel()
	}
	for _, d := range deployments {
		start := time.Now()
		if err := c.waitRollout(ctx, ns, d); err != nil {
			return fmt.Errorf("%s %s did not become available: %w", strings.ToLower(d.Kind), d.Name, err)
		}
		state := "available"
		if d.Kind == "Job" {
			state = "complete"
		}
		fmt.Fprintf(log, "%s %s in %s\n", d, state, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// RolloutTimeout bounds a rollout when the caller set no deadline.
const RolloutTimeout = 5 * time.Minute
