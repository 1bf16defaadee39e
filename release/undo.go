package release

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-cd/sluice/pipelines"
)

// Undo takes back a run's release when the run fails or is cancelled after
// (or while) releasing: the release it replaced is live again (rolling:
// applied again; blue-green: traffic switched back to its color) and the
// run's release is recorded as rolled back. A run without a release, or
// whose release was rolled back or superseded by a newer one, changes
// nothing: Undo is idempotent and never undoes someone else's release.
func (r *Releaser) Undo(ctx context.Context, ns, pipeline, run, reason string, log io.Writer) error {
	rs := records{client: r.Cluster.Client, ns: ns, pipeline: pipeline}
	all, err := rs.list(ctx)
	if err != nil {
		return err
	}
	cur := byRun(all, run)
	if cur == nil || cur.State == RolledBack || cur.State == Superseded {
		return nil
	}
	return r.restore(ctx, rs, cur, byVersion(all, cur.Previous), reason, log)
}

// restore brings prev back in place of cur (removing cur when there is no
// prev) and records cur rolled back with reason.
func (r *Releaser) restore(ctx context.Context, rs records, cur, prev *Record, reason string, log io.Writer) error {
	curObjs, err := cur.objects()
	if err != nil {
		return err
	}
	var prevObjs []*unstructured.Unstructured
	if prev != nil {
		if prevObjs, err = prev.objects(); err != nil {
			return err
		}
		fmt.Fprintf(log, "rolling back release v%d to v%d\n", cur.Version, prev.Version)
	} else {
		fmt.Fprintf(log, "removing release v%d (there was none before it)\n", cur.Version)
	}
	if cur.Strategy == pipelines.BlueGreen {
		err = r.restoreColors(ctx, rs.ns, cur, prev, curObjs, prevObjs, log)
	} else {
		err = r.restoreRolling(ctx, rs.ns, prev, curObjs, prevObjs, log)
	}
	if err == nil && cur.Strategy == pipelines.Canary {
		err = r.Cluster.DeleteObjects(ctx, rs.ns, canaries(curObjs), log)
	}
	if err != nil {
		return err
	}
	cur.State, cur.Reason = RolledBack, reason
	if err := rs.update(ctx, cur); err != nil {
		return err
	}
	if prev != nil && prev.State != Live {
		prev.State = Live
		if err := rs.update(ctx, prev); err != nil {
			return err
		}
	}
	return nil
}

func (r *Releaser) restoreRolling(ctx context.Context, ns string, prev *Record, curObjs, prevObjs []*unstructured.Unstructured, log io.Writer) error {
	if prev != nil {
		deps, err := r.apply(ctx, ns, prev, prevObjs, log)
		if err != nil {
			return err
		}
		if err := r.Cluster.WaitWorkloads(ctx, ns, deps, log); err != nil {
			return err
		}
	}
	return r.Cluster.DeleteObjects(ctx, ns, missing(curObjs, prevObjs), log)
}

// restoreColors routes every Service back to prev's color (scaling it up
// again first if it was retired) and deletes cur's color and previews.
func (r *Releaser) restoreColors(ctx context.Context, ns string, cur, prev *Record, curObjs, prevObjs []*unstructured.Unstructured, log io.Writer) error {
	c := split(curObjs)
	if prev != nil && prev.Color != "" && prev.Color != cur.Color {
		p := split(prevObjs)
		var side []*unstructured.Unstructured
		for _, d := range p.deployments {
			side = append(side, coloredDeployment(d, prev.Color))
		}
		deps, err := r.apply(ctx, ns, prev, side, log)
		if err != nil {
			return err
		}
		if err := r.Cluster.WaitWorkloads(ctx, ns, deps, log); err != nil {
			return err
		}
		if err := r.route(ctx, ns, prev, p.services, log); err != nil {
			return err
		}
		c.services = missing(c.services, p.services)
		c.others = missing(c.others, p.others)
	}
	var gone []*unstructured.Unstructured
	for _, d := range c.deployments {
		gone = append(gone, coloredDeployment(d, cur.Color))
	}
	for _, s := range split(curObjs).services {
		gone = append(gone, routedService(s, cur.Color, previewName(s.GetName())))
	}
	gone = append(gone, c.services...) // only those prev does not route (or all, with no prev)
	gone = append(gone, c.others...)
	return r.Cluster.DeleteObjects(ctx, ns, gone, log)
}

// Retire scales the color a run's blue-green release replaced to zero,
// once the grace period for instant failover has passed. Nothing happens
// unless the run's release is still the live one.
func (r *Releaser) Retire(ctx context.Context, ns, pipeline, run string, log io.Writer) error {
	rs := records{client: r.Cluster.Client, ns: ns, pipeline: pipeline}
	all, err := rs.list(ctx)
	if err != nil {
		return err
	}
	cur := byRun(all, run)
	if cur == nil || cur.State != Live || cur.Color == "" {
		return nil
	}
	prev := byVersion(all, cur.Previous)
	if prev == nil || prev.Color == "" || prev.Color == cur.Color {
		return nil
	}
	objs, err := prev.objects()
	if err != nil {
		return err
	}
	for _, d := range split(objs).deployments {
		name := colorName(d.GetName(), prev.Color)
		_, err := r.Cluster.Client.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{FieldManager: "sluice"})
		if err != nil {
			return fmt.Errorf("scale %s to zero: %w", name, err)
		}
		fmt.Fprintf(log, "deployment/%s (v%d, %s) scaled to zero\n", name, prev.Version, prev.Color)
	}
	return nil
}

// RollbackTarget is the release Rollback(to) would bring back.
func (r *Releaser) RollbackTarget(ctx context.Context, ns, pipeline string, to int) (*Record, error) {
	_, target, err := r.target(ctx, ns, pipeline, to)
	return target, err
}

func (r *Releaser) target(ctx context.Context, ns, pipeline string, to int) (cur, target *Record, err error) {
	all, err := records{client: r.Cluster.Client, ns: ns, pipeline: pipeline}.list(ctx)
	if err != nil {
		return nil, nil, err
	}
	cur = live(all)
	if cur == nil {
		return nil, nil, fmt.Errorf("%w: %s has no live release in namespace %s", ErrNoRelease, pipeline, ns)
	}
	if to == 0 {
		to = cur.Previous
		if to == 0 {
			return nil, nil, fmt.Errorf("%w: v%d is %s's first release; there is nothing before it", ErrNoRelease, cur.Version, pipeline)
		}
	}
	target = byVersion(all, to)
	switch {
	case target == nil:
		return nil, nil, fmt.Errorf("%w: %s has no release v%d in %s (sluice releases lists them)", ErrNoRelease, pipeline, to, ns)
	case to == cur.Version:
		return nil, nil, fmt.Errorf("release v%d is live already", to)
	}
	return cur, target, nil
}

// Images are the image references of the release's containers that run
// its digest ("registry/app@sha256:…").
func (r *Record) Images() []string {
	var out []string
	for _, raw := range r.Objects {
		for _, part := range strings.Split(string(raw), `"image":"`)[1:] {
			ref, _, _ := strings.Cut(part, `"`)
			if strings.HasSuffix(ref, "@"+r.Digest) && !slices.Contains(out, ref) {
				out = append(out, ref)
			}
		}
	}
	return out
}

// List returns a pipeline's releases in ns, oldest first.
func (r *Releaser) List(ctx context.Context, ns, pipeline string) ([]*Record, error) {
	return records{client: r.Cluster.Client, ns: ns, pipeline: pipeline}.list(ctx)
}

// Rollback makes release `to` (0: the one before the live one) live again
// as a new release, the way Jujube and Spinnaker keep history: the record
// of what was live stays, and the new one says which release it brings
// back. Blue-green: the old release comes up in the idle color, traffic
// switches, the color that was live scales to zero at once. run names the
// rollback (its Rollback run): asked again for the same run, it returns
// the release that run made instead of making another. who is recorded.
func (r *Releaser) Rollback(ctx context.Context, ns, pipeline string, to int, who, run string, log io.Writer) (*Record, error) {
	if run == "" {
		run = fmt.Sprintf("rollback-to-v%d-by-%s-%d", to, pipelineKey(who), time.Now().Unix())
	}
	all, err := records{client: r.Cluster.Client, ns: ns, pipeline: pipeline}.list(ctx)
	if err != nil {
		return nil, err
	}
	for _, rec := range all {
		if rec.Run == run && rec.RollbackOf != 0 {
			fmt.Fprintf(log, "v%d was made by this rollback already\n", rec.Version)
			return rec, nil
		}
	}
	cur, target, err := r.target(ctx, ns, pipeline, to)
	if err != nil {
		return nil, err
	}
	to = target.Version
	objs, err := target.objects()
	if err != nil {
		return nil, err
	}
	strategy := cur.Strategy
	if strategy == pipelines.Canary {
		strategy = pipelines.Rolling // undoing a release does not wait for a canary
	}
	req := Request{
		Pipeline: pipeline, Namespace: ns, Commit: target.Commit, Digest: target.Digest,
		Strategy: strategy, Objects: objs, Run: run,
	}
	rec, err := r.Release(ctx, req, log)
	if err != nil {
		return rec, err
	}
	rec.RollbackOf, rec.RolledBackBy = to, who
	if err := (records{client: r.Cluster.Client, ns: ns, pipeline: pipeline}).update(ctx, rec); err != nil {
		return rec, err
	}
	return rec, r.Retire(ctx, ns, pipeline, req.Run, log)
}

// OfRun is the release a run made in ns, or nil.
func (r *Releaser) OfRun(ctx context.Context, ns, pipeline, run string) (*Record, error) {
	all, err := records{client: r.Cluster.Client, ns: ns, pipeline: pipeline}.list(ctx)
	if err != nil {
		return nil, err
	}
	return byRun(all, run), nil
}

// PodPattern is a regular expression matching the names of the pods of
// the release's Deployments (blue-green: of its color), for the queries
// that judge it.
func (r *Record) PodPattern() (string, error) {
	objs, err := r.objects()
	if err != nil {
		return "", err
	}
	var names []string
	for _, d := range split(objs).deployments {
		n := d.GetName()
		if r.Color != "" {
			n = colorName(n, r.Color)
		}
		if r.IsCanary() {
			n = canaryName(n)
		}
		names = append(names, regexp.QuoteMeta(n))
	}
	if len(names) == 0 {
		return "", fmt.Errorf("release v%d has no Deployment whose pods could be measured", r.Version)
	}
	return "(" + strings.Join(names, "|") + ")-[a-z0-9]+-[a-z0-9]+", nil
}
