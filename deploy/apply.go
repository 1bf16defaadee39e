package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the server-side apply field manager of everything Sluice
// applies.
const FieldManager = "sluice"

// ErrRefused is a manifest Sluice will not apply: what it asks for would
// reach beyond the namespace it is applied to. No retry changes that.
var ErrRefused = errors.New("manifest refused")

// Applier server-side applies manifests into one namespace at a time. Every
// object is checked before any is applied (Guard): one refused object
// applies nothing. Safe for concurrent use.
type Applier struct {
	Discovery discovery.DiscoveryInterface
	Dynamic   dynamic.Interface

	mapperOnce sync.Once
	mapper     *restmapper.DeferredDiscoveryRESTMapper
}

// Apply applies objs into ns, reporting to log each object applied and
// each field another manager had changed (the commit's version is then
// applied over it: the manifests in the commit are what must run). objs
// get ns as their namespace.
func (a *Applier) Apply(ctx context.Context, ns string, objs []*unstructured.Unstructured, log io.Writer) error {
	resources, err := a.Guard(ctx, ns, objs)
	if err != nil {
		return err
	}
	for i, o := range objs {
		o.SetNamespace(ns)
		body, err := json.Marshal(withoutSource(o).Object)
		if err != nil {
			return err
		}
		// Apply without force first, so that fields someone else changed
		// since (kubectl edit, another controller) are reported.
		api := a.Dynamic.Resource(resources[i]).Namespace(ns)
		_, err = api.Patch(ctx, o.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: FieldManager})
		if apierrors.IsConflict(err) {
			fmt.Fprintf(log, "conflict: %s/%s: %v; applying the commit's version over it\n", strings.ToLower(o.GetKind()), o.GetName(), conflictFields(err))
			force := true
			_, err = api.Patch(ctx, o.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
		}
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		fmt.Fprintf(log, "applied %s/%s\n", strings.ToLower(o.GetKind()), o.GetName())
	}
	return nil
}

// Delete deletes objs from ns; objects already gone are fine.
func (a *Applier) Delete(ctx context.Context, ns string, objs []*unstructured.Unstructured, log io.Writer) error {
	bg := metav1.DeletePropagationBackground
	for _, o := range objs {
		res, err := a.resource(o)
		if err != nil {
			return err
		}
		err = a.Dynamic.Resource(res).Namespace(ns).Delete(ctx, o.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if err == nil {
			fmt.Fprintf(log, "deleted %s/%s\n", strings.ToLower(o.GetKind()), o.GetName())
		}
	}
	return nil
}

// Guard maps every object to its namespaced resource and refuses, before
// anything is applied, what would reach beyond the namespace ns or beyond
// what ctx's guard (WithGuard) allows: a cluster-scoped kind, a system or
// unlisted namespace, a RoleBinding to a ClusterRole, a pod beyond the Pod
// Security level, a Service with externalIPs (CVE-2020-8554: kube-proxy
// would send that address, from every pod and node, to the Service's
// pods), a Secret of Sluice's other than AppSecret and WithSecrets'.
// See Check.
func (a *Applier) Guard(ctx context.Context, ns string, objs []*unstructured.Unstructured) ([]schema.GroupVersionResource, error) {
	if err := check(GuardOf(ctx), ns, objs, false, ownSecrets(ctx)); err != nil {
		return nil, err
	}
	out := make([]schema.GroupVersionResource, len(objs))
	for i, o := range objs {
		res, err := a.resource(o)
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

// resource maps an object's kind to its namespaced API resource.
func (a *Applier) resource(o *unstructured.Unstructured) (schema.GroupVersionResource, error) {
	a.mapperOnce.Do(func() {
		a.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(a.Discovery))
	})
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.mapper.Reset() // a CRD installed since the last discovery
		m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return schema.GroupVersionResource{}, fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return schema.GroupVersionResource{}, fmt.Errorf("%w: %s %s is cluster-scoped: an environment holds namespaced objects only", ErrRefused, gvk.Kind, o.GetName())
	}
	return m.Resource, nil
}

// withoutSource is o as it is applied: without AnnotationSource.
func withoutSource(o *unstructured.Unstructured) *unstructured.Unstructured {
	ann := o.GetAnnotations()
	if _, ok := ann[AnnotationSource]; !ok {
		return o
	}
	c := o.DeepCopy()
	delete(ann, AnnotationSource)
	if len(ann) == 0 {
		ann = nil
	}
	c.SetAnnotations(ann)
	return c
}

// conflictFields names the fields and managers of an apply conflict.
func conflictFields(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Details != nil {
		var out []string
		for _, c := range status.Status().Details.Causes {
			out = append(out, c.Message)
		}
		if len(out) > 0 {
			return strings.Join(out, "; ")
		}
	}
	return err.Error()
}
