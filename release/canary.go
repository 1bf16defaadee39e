package release

import (
	"context"
	"errors"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/pipelines"
)

// A canary release runs the new version's pods beside the stable ones
// behind the same Services, with no mesh: the share of traffic it gets is
// its share of the pods. Each Deployment of the release gets a copy named
// <name>-canary (LabelTrack: canary in its selector and pods, so the two
// never claim each other's pods); SetWeight scales the canary up and the
// stable Deployment down by the same count; Promote rolls the stable
// Deployment to the new version and removes the canary; Undo removes the
// canary and puts the stable Deployment back at full size. Until
// promotion the canary runs with the stable release's Services and other
// objects.

// LabelTrack marks a canary's Deployment and pods.
const LabelTrack = "sluice.dev/track"

// canaryName is a Deployment's canary: "hello" → "hello-canary".
func canaryName(name string) string { return name + "-canary" }

// canaryDeployment is d's canary copy with replicas pods.
func canaryDeployment(d *unstructured.Unstructured, replicas int64) *unstructured.Unstructured {
	c := d.DeepCopy()
	c.SetName(canaryName(d.GetName()))
	for _, path := range [][]string{{"spec", "selector", "matchLabels"}, {"spec", "template", "metadata", "labels"}} {
		m, _, _ := unstructured.NestedStringMap(c.Object, path...)
		if m == nil {
			m = map[string]string{}
		}
		m[LabelTrack] = "canary"
		_ = unstructured.SetNestedStringMap(c.Object, m, path...)
	}
	_ = unstructured.SetNestedField(c.Object, replicas, "spec", "replicas")
	return c
}

// replicasOf is a Deployment's spec.replicas (Kubernetes' default 1).
func replicasOf(d *unstructured.Unstructured) int64 {
	if n, ok, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); ok {
		return n
	}
	return 1
}

// CanarySplit is how many of a Deployment's pods the canary runs at
// weight (percent): at least one, and at least one stays stable.
func CanarySplit(total int64, weight int) (canary, stable int64) {
	canary = (total*int64(weight) + 99) / 100
	canary = max(canary, 1)
	if total > 1 {
		canary = min(canary, total-1)
	}
	return canary, max(total-canary, 0)
}

// ErrNotCanary: the run's release is not a canary in progress.
var ErrNotCanary = errors.New("no canary in progress")

// setWeight runs cur's canary at weight beside the stable release (a
// release starts its canary so) and waits for both sides' pods.
func (r *Releaser) setWeight(ctx context.Context, ns string, cur *Record, objs []*unstructured.Unstructured, weight int, log io.Writer) error {
	var canaries []*unstructured.Unstructured
	var stable []environments.Workload
	for _, d := range split(objs).deployments {
		c, s := CanarySplit(replicasOf(d), weight)
		canaries = append(canaries, canaryDeployment(d, c))
		if err := r.scale(ctx, ns, d.GetName(), s); err != nil {
			return err
		}
		stable = append(stable, environments.Workload{Kind: "Deployment", Name: d.GetName()})
		fmt.Fprintf(log, "canary weight %d%%: deployment/%s %d pod(s), deployment/%s %d (%d%% of the pods)\n",
			weight, canaryName(d.GetName()), c, d.GetName(), s, 100*c/max(c+s, 1))
	}
	deps, err := r.apply(ctx, ns, cur, canaries, log)
	if err != nil {
		return err
	}
	if err := r.Cluster.WaitWorkloads(ctx, ns, append(deps, stable...), log); err != nil {
		return fmt.Errorf("%w: %w", ErrVerifyFailed, err)
	}
	return nil
}

func (r *Releaser) scale(ctx context.Context, ns, name string, replicas int64) error {
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	if _, err := r.Cluster.Client.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "sluice"}); err != nil {
		return fmt.Errorf("scale deployment/%s to %d: %w", name, replicas, err)
	}
	return nil
}

// canaryRelease looks up a run's canary in progress.
func (r *Releaser) canaryRelease(ctx context.Context, ns, pipeline, run string) (records, *Record, *Record, error) {
	rs := records{client: r.Cluster.Client, ns: ns, pipeline: pipeline}
	all, err := rs.list(ctx)
	if err != nil {
		return rs, nil, nil, err
	}
	cur := byRun(all, run)
	if cur == nil || cur.Strategy != pipelines.Canary || cur.State != Pending {
		return rs, cur, nil, fmt.Errorf("%w: the run's release is %s", ErrNotCanary, describeState(cur))
	}
	return rs, cur, byVersion(all, cur.Previous), nil
}

func describeState(r *Record) string {
	if r == nil {
		return "missing"
	}
	return fmt.Sprintf("v%d, %s %s", r.Version, r.Strategy, r.State)
}

// SetWeight moves a run's canary to weight percent of the pods.
func (r *Releaser) SetWeight(ctx context.Context, ns, pipeline, run string, weight int, log io.Writer) error {
	_, cur, _, err := r.canaryRelease(ctx, ns, pipeline, run)
	if err != nil {
		return err
	}
	objs, err := cur.objects()
	if err != nil {
		return err
	}
	return r.setWeight(ctx, ns, cur, objs, weight, log)
}

// Promote makes a run's canary the release: the stable Deployments roll
// to it (and its other objects are applied), the canary goes, objects
// only the previous release had are pruned, and the release is live.
// Promoting a release that is live already does nothing.
func (r *Releaser) Promote(ctx context.Context, ns, pipeline, run string, log io.Writer) (*Record, error) {
	rs, cur, prev, err := r.canaryRelease(ctx, ns, pipeline, run)
	if cur != nil && cur.State == Live {
		return cur, nil
	}
	if err != nil {
		return nil, err
	}
	objs, err := cur.objects()
	if err != nil {
		return nil, err
	}
	deps, err := r.apply(ctx, ns, cur, objs, log)
	if err != nil {
		return nil, err
	}
	if err := r.Cluster.WaitWorkloads(ctx, ns, deps, log); err != nil {
		return nil, err
	}
	gone := canaries(objs)
	if prev != nil {
		old, err := prev.objects()
		if err != nil {
			return nil, err
		}
		gone = append(gone, missing(old, objs)...)
	}
	if err := r.Cluster.DeleteObjects(ctx, ns, gone, log); err != nil {
		return nil, err
	}
	cur.State = Live
	if err := rs.update(ctx, cur); err != nil {
		return nil, err
	}
	if prev != nil {
		prev.State = Superseded
		if err := rs.update(ctx, prev); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(log, "canary promoted: release v%d is live\n", cur.Version)
	return cur, nil
}

// canaries are the canary Deployments of a release's objects.
func canaries(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, d := range split(objs).deployments {
		out = append(out, canaryDeployment(d, 0))
	}
	return out
}
