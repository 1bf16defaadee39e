// Package release puts an approved digest into a long-lived environment
// (production) with a rolling or blue-green strategy, verifies it, and
// brings the previous release back when verification, or anything after
// it, fails. Every release is a record in the environment's namespace, so
// any earlier one can be applied again (`sluice rollback`). No Temporal
// here; the production activities adapt it.
package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/pipelines"
)

// Releaser releases into namespaces of one cluster.
type Releaser struct {
	Cluster *environments.Cluster
}

// Request is one release: the manifests (digest already substituted) of a
// run's commit into a namespace.
type Request struct {
	Pipeline  string
	Namespace string
	Run       string
	Commit    string
	Digest    string
	// Strategy is pipelines.Rolling, pipelines.BlueGreen or
	// pipelines.Canary.
	Strategy string
	// CanaryWeight is the share of pods (percent) a canary starts with.
	CanaryWeight int
	Objects      []*unstructured.Unstructured
	// ApprovedBy are recorded with the release.
	ApprovedBy []string
	// Verify, when set, must pass before the release counts (blue-green:
	// before traffic is switched).
	Verify *Verify
	// Secrets are what the application gets (by key) in the release's own
	// Secret, owned by its record; the manifests name
	// environments.AppSecret.
	Secrets map[string]string
}

// Verify is the check a release must pass: commands run in order as a Job
// in the namespace.
type Verify struct {
	Image    string
	Commands []string
	Timeout  time.Duration
	// Secrets are environment variables the Job reads from a Secret made
	// beside it, deleted with it.
	Secrets map[string]string
	// SecretFiles are secrets the Job reads as files (environments.Suite).
	SecretFiles map[string]string
}

// ErrVerifyFailed: the release did not pass its verify; the previous
// release is back (rolling) or traffic never moved (blue-green).
var ErrVerifyFailed = errors.New("verify failed")

// ErrRolledBack: the run's release was rolled back already.
var ErrRolledBack = errors.New("release rolled back")

// ErrNoNamespace: the environment's namespace does not exist.
var ErrNoNamespace = errors.New("no such environment")

// ErrNoRelease: there is no release to roll back to.
var ErrNoRelease = errors.New("no release")

// Release applies req with its strategy, verifies it and records it live.
// A failed verify restores what was live before, records the release as
// rolled back and returns ErrVerifyFailed. Any other error leaves the
// release pending: calling Release again for the same run continues it,
// and Undo removes it. Safe to call again after a crash at any point.
func (r *Releaser) Release(ctx context.Context, req Request, log io.Writer) (*Record, error) {
	if _, err := r.Cluster.Client.CoreV1().Namespaces().Get(ctx, req.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: namespace %s does not exist; create it (kubectl create namespace %s): Sluice releases into environments, it does not make them", ErrNoNamespace, req.Namespace, req.Namespace)
	}
	rs := records{client: r.Cluster.Client, ns: req.Namespace, pipeline: req.Pipeline}
	all, err := rs.list(ctx)
	if err != nil {
		return nil, err
	}
	cur := byRun(all, req.Run)
	if cur != nil {
		switch cur.State {
		case Live, Superseded:
			fmt.Fprintf(log, "release v%d of this run is %s already\n", cur.Version, cur.State)
			return cur, nil
		case RolledBack:
			return cur, fmt.Errorf("%w: release v%d of this run: %s", ErrRolledBack, cur.Version, cur.Reason)
		}
		fmt.Fprintf(log, "continuing release v%d\n", cur.Version)
	}
	prev := live(all)
	if cur == nil {
		cur = &Record{
			Pipeline: req.Pipeline, Run: req.Run, Commit: req.Commit, Digest: req.Digest,
			Strategy: req.Strategy, State: Pending, Created: time.Now().UTC(), ApprovedBy: req.ApprovedBy,
		}
		if prev != nil {
			cur.Previous = prev.Version
		}
		if req.Strategy == pipelines.BlueGreen {
			cur.Color = nextColor(liveColor(prev))
		}
		cur.Secrets = slices.Sorted(maps.Keys(req.Secrets))
		for _, o := range req.Objects {
			raw, err := json.Marshal(o.Object)
			if err != nil {
				return nil, err
			}
			cur.Objects = append(cur.Objects, raw)
		}
		if err := rs.create(ctx, cur, latest(all)); err != nil {
			return nil, err
		}
	}
	if prev != nil && prev.Version == cur.Version {
		prev = nil
	}
	describe(log, cur, prev)
	if len(cur.Secrets) > 0 {
		// the record's: deleted with it, brought back with it by a rollback
		owner := &metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: recordName(cur.Pipeline, cur.Version), UID: cur.uid}
		if err := r.Cluster.PutSecret(ctx, req.Namespace, cur.SecretName(), req.Run, req.Secrets, owner); err != nil {
			return cur, err
		}
		fmt.Fprintf(log, "secrets: %s in Secret %s\n", strings.Join(cur.Secrets, ", "), cur.SecretName())
	}

	objs, err := cur.objects()
	if err != nil {
		return nil, err
	}
	canary := cur.Strategy == pipelines.Canary && prev != nil // a first release has nothing to be a canary beside
	switch {
	case cur.Strategy == pipelines.BlueGreen:
		err = r.blueGreen(ctx, req, cur, objs, log)
	case canary:
		err = r.setWeight(ctx, req.Namespace, cur, objs, req.CanaryWeight, log)
	default:
		err = r.rolling(ctx, req, cur, prev, objs, log)
	}
	if errors.Is(err, ErrVerifyFailed) {
		if uerr := r.restore(ctx, rs, cur, prev, err.Error(), log); uerr != nil {
			return cur, errors.Join(err, fmt.Errorf("restoring v%d: %w", cur.Previous, uerr))
		}
		return cur, err
	}
	if err != nil {
		return cur, err
	}
	if canary {
		fmt.Fprintf(log, "release v%d is a canary beside v%d\n", cur.Version, prev.Version)
		return cur, nil
	}
	cur.State = Live
	if err := rs.update(ctx, cur); err != nil {
		return cur, err
	}
	if prev != nil {
		prev.State = Superseded
		if err := rs.update(ctx, prev); err != nil {
			return cur, err
		}
	}
	fmt.Fprintf(log, "release v%d is live\n", cur.Version)
	return cur, nil
}

// IsCanary reports whether the release waits as a canary for Promote.
func (r *Record) IsCanary() bool {
	return r.Strategy == pipelines.Canary && r.State == Pending && r.Previous != 0
}

func describe(log io.Writer, cur, prev *Record) {
	what := fmt.Sprintf("release v%d: %s@%s (%s", cur.Version, cur.Commit, shortDigest(cur.Digest), cur.Strategy)
	if cur.Color != "" {
		what += ", color " + cur.Color
	}
	if prev != nil {
		what += fmt.Sprintf("; live now: v%d", prev.Version)
	} else {
		what += "; first release"
	}
	fmt.Fprintln(log, what+")")
}

// apply applies objs, a release of rec's pipeline, into ns with rec's run
// labels; they may name the Secrets of the pipeline's releases.
func (r *Releaser) apply(ctx context.Context, ns string, rec *Record, objs []*unstructured.Unstructured, log io.Writer) ([]environments.Workload, error) {
	return r.Cluster.ApplyObjects(deploy.WithSecrets(ctx, ownSecret(rec.Pipeline)), ns, runLabels(rec), objs, log)
}

// rolling applies the new manifests over the live ones, waits for the
// rollout, verifies, and prunes what the previous release had and this
// one does not.
func (r *Releaser) rolling(ctx context.Context, req Request, cur, prev *Record, objs []*unstructured.Unstructured, log io.Writer) error {
	deps, err := r.apply(ctx, req.Namespace, cur, objs, log)
	if err != nil {
		return err
	}
	if err := r.Cluster.WaitWorkloads(ctx, req.Namespace, deps, log); err != nil {
		return fmt.Errorf("%w: %w", ErrVerifyFailed, err)
	}
	if err := r.verify(ctx, req, cur, split(objs).services, "", log); err != nil {
		return err
	}
	if prev != nil {
		old, err := prev.objects()
		if err != nil {
			return err
		}
		return r.Cluster.DeleteObjects(ctx, req.Namespace, missing(old, objs), log)
	}
	return nil
}

// blueGreen deploys the new color next to the live one with a preview
// Service per Service, verifies through the previews, then switches every
// Service to the new color, one apply each. The old color keeps running
// until Retire.
func (r *Releaser) blueGreen(ctx context.Context, req Request, cur *Record, objs []*unstructured.Unstructured, log io.Writer) error {
	p := split(objs)
	side := append([]*unstructured.Unstructured{}, p.others...)
	for _, d := range p.deployments {
		side = append(side, coloredDeployment(d, cur.Color))
	}
	for _, s := range p.services {
		side = append(side, routedService(s, cur.Color, previewName(s.GetName())))
	}
	deps, err := r.apply(ctx, req.Namespace, cur, side, log)
	if err != nil {
		return err
	}
	if err := r.Cluster.WaitWorkloads(ctx, req.Namespace, deps, log); err != nil {
		return fmt.Errorf("%w: %w", ErrVerifyFailed, err)
	}
	if err := r.verify(ctx, req, cur, p.services, "-preview", log); err != nil {
		return err
	}
	return r.route(ctx, req.Namespace, cur, p.services, log)
}

// route points every Service at cur's color.
func (r *Releaser) route(ctx context.Context, ns string, cur *Record, services []*unstructured.Unstructured, log io.Writer) error {
	var routed []*unstructured.Unstructured
	for _, s := range services {
		routed = append(routed, routedService(s, cur.Color, s.GetName()))
	}
	if _, err := r.apply(ctx, ns, cur, routed, log); err != nil {
		return err
	}
	fmt.Fprintf(log, "traffic switched to %s\n", cur.Color)
	return nil
}

func runLabels(rec *Record) map[string]string {
	return map[string]string{environments.LabelRun: environments.LabelValue(rec.Run), LabelVersion: fmt.Sprint(rec.Version)}
}

// missing are the objects of old that new lacks (same kind and name).
func missing(old, new []*unstructured.Unstructured) []*unstructured.Unstructured {
	have := map[string]bool{}
	for _, o := range new {
		have[o.GetKind()+"/"+o.GetName()] = true
	}
	var out []*unstructured.Unstructured
	for _, o := range old {
		if !have[o.GetKind()+"/"+o.GetName()] {
			out = append(out, o)
		}
	}
	return out
}

func byRun(all []*Record, run string) *Record {
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Run == run {
			return all[i]
		}
	}
	return nil
}

func byVersion(all []*Record, n int) *Record {
	for _, r := range all {
		if r.Version == n {
			return r
		}
	}
	return nil
}

// live is the newest live release.
func live(all []*Record) *Record {
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].State == Live {
			return all[i]
		}
	}
	return nil
}

func liveColor(r *Record) string {
	if r == nil {
		return ""
	}
	return r.Color
}

func latest(all []*Record) int {
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Version
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}
