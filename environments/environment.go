package environments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/sluice-cd/sluice/deploy"
)

// Cluster is where environments live.
type Cluster struct {
	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
}

// NewCluster connects to the cluster of cfg.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
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
	fieldManager   = "sluice"
)

// EnsureNamespace creates the run's namespace (labelled with the run), or
// accepts it when it exists already for the same run (a retried attempt).
func (c *Cluster) EnsureNamespace(ctx context.Context, ns, run string) error {
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{LabelRun: labelValue(run), LabelManagedBy: "sluice"},
	}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, gerr := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if got.Labels[LabelRun] != labelValue(run) {
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
	if got.Labels[LabelRun] != labelValue(run) {
		return nil
	}
	err = c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &got.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// labelValue fits a run id into a label value (63 characters).
func labelValue(s string) string {
	if len(s) > 63 {
		s = s[len(s)-63:]
	}
	return strings.Trim(s, "-_.")
}

// Apply server-side applies objs into ns (field manager "sluice", conflicts
// forced: the environment is Sluice's) and waits for every Deployment to
// roll out, writing what it does to log.
func (c *Cluster) Apply(ctx context.Context, ns, run string, objs []*unstructured.Unstructured, log io.Writer) error {
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	var deployments []string
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
		}
		o.SetNamespace(ns)
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelRun], labels[LabelManagedBy] = labelValue(run), "sluice"
		o.SetLabels(labels)
		body, err := json.Marshal(o.Object)
		if err != nil {
			return err
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			return fmt.Errorf("%s %s is cluster-scoped: an environment holds namespaced objects only", gvk.Kind, o.GetName())
		}
		force := true
		if _, err := c.Dynamic.Resource(m.Resource).Namespace(ns).Patch(ctx, o.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: fieldManager, Force: &force}); err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
		}
		fmt.Fprintf(log, "applied %s/%s\n", strings.ToLower(gvk.Kind), o.GetName())
		if gvk.Kind == "Deployment" {
			deployments = append(deployments, o.GetName())
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, RolloutTimeout)
		defer cancel()
	}
	for _, d := range deployments {
		start := time.Now()
		if err := c.waitRollout(ctx, ns, d); err != nil {
			return fmt.Errorf("deployment %s did not become available: %w", d, err)
		}
		fmt.Fprintf(log, "deployment/%s available in %s\n", d, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// RolloutTimeout bounds a rollout when the caller set no deadline.
const RolloutTimeout = 5 * time.Minute

// waitRollout waits for the Deployment, and gives up at once when one of
// the namespace's pods cannot pull its image: that does not fix itself.
func (c *Cluster) waitRollout(ctx context.Context, ns, name string) error {
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
				if why := c.podProblems(ctx, ns, true); why != "" {
					cancel(errors.New(why))
					return
				}
			}
		}
	}()
	err := deploy.WaitRollout(ctx, c.Client, ns, name)
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		return cause
	}
	if err != nil {
		return fmt.Errorf("%w%s", err, c.podProblems(context.WithoutCancel(ctx), ns, false))
	}
	return nil
}

// podProblems names why the namespace's pods are not running: with fatal,
// only image pull failures (which do not fix themselves), as a message;
// otherwise every waiting reason, as a suffix for errors.
func (c *Cluster) podProblems(ctx context.Context, ns string, fatal bool) string {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	var out []string
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			w := cs.State.Waiting
			if w == nil || w.Reason == "" {
				continue
			}
			if fatal && w.Reason != "ErrImagePull" && w.Reason != "ImagePullBackOff" && w.Reason != "InvalidImageName" {
				continue
			}
			out = append(out, fmt.Sprintf("pod %s: %s: %s", p.Name, w.Reason, w.Message))
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
