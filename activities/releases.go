package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-cd/sluice/analysis"

	"go.temporal.io/sdk/activity"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/release"
	"github.com/sluice-cd/sluice/secrets"
)

// Releases releases a signed digest to production, undoes a release a
// failed run made and retires the color a blue-green release replaced.
type Releases struct {
	Clusters
	Trust
	Logs *logstore.Store
	// Secrets reads the pipeline secrets the verify Job names.
	Secrets *secrets.Reader
	// Prometheus answers production.analysis's queries.
	Prometheus *analysis.Prometheus
}

// Production releases the approved digest to the production environment
// with the spec's strategy (release.Releaser): rolling, or blue-green with
// the traffic switch after verify. A release that fails its verify is
// rolled back here and fails the phase without retries; any other error is
// retried, and the run's compensation (UndoRelease) removes a release left
// half-done.
func (rl *Releases) Production(ctx context.Context, in contract.ProductionInput) (_ contract.ProductionResult, err error) {
	defer classify(&err)
	if rl.Cluster == nil {
		return contract.ProductionResult{}, missing("production", needKubeconfig)
	}
	if in.Pipeline == "" || in.Namespace == "" {
		return contract.ProductionResult{}, invalid("production needs the pipeline name and environments.production.namespace")
	}
	if !filepath.IsLocal(in.Manifests) {
		return contract.ProductionResult{}, invalid("production.manifests %q must be a directory inside the repository", in.Manifests)
	}
	repo, err := repository(in.Image)
	if err != nil {
		return contract.ProductionResult{}, err
	}
	pull := repo // production pulls the replica when promote made one
	if in.Replica != "" {
		pull = in.Replica
	}
	if err := rl.check(ctx, "production", pull, in.Digest, in.Source.Commit, in.Guard.Attestations...); err != nil {
		return contract.ProductionResult{}, err
	}
	cluster, err := rl.get(in.Context)
	if err != nil {
		return contract.ProductionResult{}, err
	}
	src, done, err := checkout(ctx, in.Source)
	if err != nil {
		return contract.ProductionResult{}, err
	}
	defer done()
	objs, err := environments.ReadManifestsAs(filepath.Join(src, in.Manifests), releaseName(in.Pipeline), in.Namespace)
	if err != nil {
		return contract.ProductionResult{}, invalid("%v", err)
	}
	if environments.SetImageFrom(objs, repo, pull, in.Digest) == 0 {
		return contract.ProductionResult{}, invalid("no container in %s names the image %s (or %s): name it so the approved digest can take its place", in.Manifests, repo, filepath.Base(repo))
	}
	if err := deploy.Check(in.Guard, in.Namespace, objs); err != nil {
		return contract.ProductionResult{}, err
	}
	ctx = deploy.WithGuard(ctx, in.Guard)
	values, err := rl.Secrets.Read(ctx, in.VerifySecrets)
	if err != nil {
		return contract.ProductionResult{}, err
	}
	log, err := rl.Logs.WithSecrets(secrets.Plain(values)).Writer(in.RunID, "production")
	if err != nil {
		return contract.ProductionResult{}, err
	}
	defer log.Close()
	defer heartbeat(ctx)()

	req := release.Request{
		Pipeline: in.Pipeline, Namespace: in.Namespace, Run: in.RunID,
		Commit: in.Source.Commit, Digest: in.Digest, Strategy: in.Strategy, CanaryWeight: in.CanaryWeight, Objects: objs, ApprovedBy: in.ApprovedBy,
		Secrets: secrets.All(values),
	}
	if len(in.Verify) > 0 {
		req.Verify = &release.Verify{Image: in.VerifyImage, Commands: in.Verify, Timeout: in.VerifyTimeout, Secrets: secrets.Env(values), SecretFiles: secrets.Files(values)}
	}
	rec, err := (&release.Releaser{Cluster: cluster}).Release(ctx, req, log)
	if errors.Is(err, release.ErrVerifyFailed) || errors.Is(err, release.ErrRolledBack) {
		back := "removed (there was no release before it)"
		if rec != nil && rec.Previous != 0 {
			back = fmt.Sprintf("rolled back to v%d", rec.Previous)
		}
		version := 0
		if rec != nil {
			version = rec.Version
		}
		fmt.Fprintf(log, "release v%d failed: %v; %s\n", version, err, back)
		return contract.ProductionResult{}, fail(errVerifyFailed, "release v%d failed: %v; %s", version, err, back)
	}
	if errors.Is(err, release.ErrNoNamespace) {
		return contract.ProductionResult{}, invalid("%v", err)
	}
	if err != nil {
		return contract.ProductionResult{}, fmt.Errorf("release to %s: %w", in.Namespace, err)
	}
	return contract.ProductionResult{Revision: fmt.Sprint(rec.Version), Previous: rec.Previous, Color: rec.Color, Canary: rec.IsCanary()}, nil
}

// SetCanaryWeight moves a run's canary to a step's weight and waits for
// its pods (release.Releaser.SetWeight).
func (rl *Releases) SetCanaryWeight(ctx context.Context, in contract.CanaryInput) (_ contract.Nothing, err error) {
	defer classify(&err)
	return contract.Nothing{}, canaryErr(rl.onRelease(ctx, in.ReleaseRef, func(ctx context.Context, r *release.Releaser, log io.Writer) error {
		return r.SetWeight(ctx, in.Namespace, in.Pipeline, in.RunID, in.Weight, log)
	}))
}

// PromoteCanary makes a run's canary the live release
// (release.Releaser.Promote; promoting a live release does nothing).
func (rl *Releases) PromoteCanary(ctx context.Context, in contract.ReleaseRef) (_ contract.Nothing, err error) {
	defer classify(&err)
	return contract.Nothing{}, canaryErr(rl.onRelease(ctx, in, func(ctx context.Context, r *release.Releaser, log io.Writer) error {
		_, err := r.Promote(ctx, in.Namespace, in.Pipeline, in.RunID, log)
		return err
	}))
}

// canaryErr classifies what moving a canary returns: a run without one is
// a bad input, pods that never become ready fail the phase.
func canaryErr(err error) error {
	switch {
	case errors.Is(err, release.ErrNotCanary):
		return invalid("%v", err)
	case errors.Is(err, release.ErrVerifyFailed):
		return fail(errVerifyFailed, "%v", err)
	}
	return err
}

// onRelease runs do on a run's release in its environment's cluster,
// under the environment's guard, writing to the run's production log and
// heartbeating.
func (rl *Releases) onRelease(ctx context.Context, in contract.ReleaseRef, do func(context.Context, *release.Releaser, io.Writer) error) error {
	cluster, err := rl.get(in.Context)
	if err != nil {
		return err
	}
	log, err := rl.Logs.Writer(in.RunID, "production")
	if err != nil {
		return err
	}
	defer log.Close()
	defer heartbeat(ctx)()
	return do(deploy.WithGuard(ctx, in.Guard), &release.Releaser{Cluster: cluster}, log)
}

// UndoRelease brings the release a run replaced back when the run fails or
// is cancelled after releasing (release.Releaser.Undo; idempotent).
func (rl *Releases) UndoRelease(ctx context.Context, in contract.ReleaseRef) (err error) {
	defer classify(&err)
	if rl.Cluster == nil || in.Namespace == "" || in.Pipeline == "" {
		return nil
	}
	reason := "the run failed or was cancelled after the release"
	if in.Reason != "" {
		reason = in.Reason
	}
	return rl.onRelease(ctx, in, func(ctx context.Context, r *release.Releaser, log io.Writer) error {
		return r.Undo(ctx, in.Namespace, in.Pipeline, in.RunID, reason, log)
	})
}

// RetireRelease scales the blue-green color a run's release replaced to
// zero after the grace period.
func (rl *Releases) RetireRelease(ctx context.Context, in contract.ReleaseRef) (_ contract.Nothing, err error) {
	defer classify(&err)
	return contract.Nothing{}, rl.onRelease(ctx, in, func(ctx context.Context, r *release.Releaser, log io.Writer) error {
		return r.Retire(ctx, in.Namespace, in.Pipeline, in.RunID, log)
	})
}

// RollbackRelease makes an earlier production release live again
// (release.Releaser.Rollback) for a Rollback run: its image must still
// carry this installation's signature for its commit, and its objects are
// held to production's guard again. Retried, it finds the release its run
// made instead of making another.
func (rl *Releases) RollbackRelease(ctx context.Context, in contract.RollbackInput) (_ contract.RollbackResult, err error) {
	defer classify(&err)
	if rl.Cluster == nil && rl.Contexts == nil {
		return contract.RollbackResult{}, missing("rollback", needKubeconfig)
	}
	if err := deploy.CheckNamespace(in.Guard, in.Namespace); err != nil {
		return contract.RollbackResult{}, err
	}
	cluster, err := rl.get(in.Context)
	if err != nil {
		return contract.RollbackResult{}, err
	}
	info := activity.GetInfo(ctx)
	run := info.WorkflowExecution.RunID
	log, err := rl.Logs.Writer(run, "rollback")
	if err != nil {
		return contract.RollbackResult{}, err
	}
	defer log.Close()
	defer heartbeat(ctx)()
	r := &release.Releaser{Cluster: cluster}
	all, err := r.List(ctx, in.Namespace, in.Pipeline)
	if err != nil {
		return contract.RollbackResult{}, err
	}
	done := slices.ContainsFunc(all, func(rec *release.Record) bool { return rec.Run == "rollback-"+run })
	target, err := r.RollbackTarget(ctx, in.Namespace, in.Pipeline, in.To)
	if err != nil && !errors.Is(err, release.ErrNoRelease) && !done {
		return contract.RollbackResult{}, err
	}
	if target != nil && !done {
		images := target.Images()
		if len(images) == 0 {
			return contract.RollbackResult{}, invalid("release v%d names no image by its digest %s", target.Version, target.Digest)
		}
		for _, ref := range images {
			repo, digest, _ := strings.Cut(ref, "@")
			if err := rl.check(ctx, "rollback", repo, digest, target.Commit, in.Guard.Attestations...); err != nil {
				return contract.RollbackResult{}, err
			}
		}
	}
	fmt.Fprintf(log, "rollback of %s in %s asked by %s: %s\n", in.Pipeline, in.Namespace, in.By, in.Reason)
	rec, err := r.Rollback(deploy.WithGuard(ctx, in.Guard), in.Namespace, in.Pipeline, in.To, in.By, "rollback-"+run, log)
	if errors.Is(err, release.ErrNoRelease) {
		return contract.RollbackResult{}, invalid("%v", err)
	}
	if err != nil {
		return contract.RollbackResult{}, err
	}
	fmt.Fprintf(log, "v%d is live: rollback to v%d of commit %.12s\n", rec.Version, rec.RollbackOf, rec.Commit)
	return contract.RollbackResult{Version: rec.Version, RollbackOf: rec.RollbackOf, Commit: rec.Commit, Digest: rec.Digest}, nil
}

// Analyze judges a run's production release by the spec's metrics
// (analysis.Run): one round of measurements every interval, each value in
// the run log, the verdict returned (not an error: the workflow decides
// what a failed or inconclusive analysis does). The result so far is the
// heartbeat's details, so a retried analysis continues where it stopped.
// With in.Check it evaluates each query once, before the release, and
// fails without retries naming a query Prometheus rejects.
func (rl *Releases) Analyze(ctx context.Context, in contract.AnalysisInput) (_ contract.AnalysisResult, err error) {
	defer classify(&err)
	if rl.Prometheus == nil {
		return contract.AnalysisResult{}, missing("production.analysis", "a Prometheus: set prometheus.url in the server's configuration to the one that scrapes production")
	}
	log, err := rl.Logs.Writer(in.RunID, "production")
	if err != nil {
		return contract.AnalysisResult{}, err
	}
	defer log.Close()
	a := &in.Analysis
	if in.Check {
		stop := heartbeat(ctx)
		defer stop()
		vars := analysis.Vars{"namespace": in.Namespace, "pods": ".+", "color": release.Blue, "release": "0"}
		if err := analysis.Check(ctx, rl.Prometheus, a, vars); err != nil {
			if errors.Is(err, analysis.ErrRejected) {
				fmt.Fprintf(log, "analysis refused before the release: %v\n", err)
				return contract.AnalysisResult{}, invalid("%v: correct the query in .sluice.yml; nothing was released", err)
			}
			return contract.AnalysisResult{}, err
		}
		fmt.Fprintf(log, "analysis: Prometheus accepts the queries of %d metric(s)\n", len(a.Metrics))
		return contract.AnalysisResult{}, nil
	}
	cluster, err := rl.get(in.Context)
	if err != nil {
		return contract.AnalysisResult{}, err
	}
	rec, err := (&release.Releaser{Cluster: cluster}).OfRun(ctx, in.Namespace, in.Pipeline, in.RunID)
	if err != nil {
		return contract.AnalysisResult{}, err
	}
	if rec == nil {
		return contract.AnalysisResult{}, invalid("the run has no release in %s to analyse", in.Namespace)
	}
	pods, err := rec.PodPattern()
	if err != nil {
		return contract.AnalysisResult{}, invalid("%v", err)
	}
	vars := analysis.Vars{"namespace": in.Namespace, "pods": pods, "color": rec.Color, "release": fmt.Sprint(rec.Version)}
	res := contract.AnalysisResult{Release: rec.Version, Pods: pods}
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &res) == nil {
		fmt.Fprintf(log, "analysis of release v%d continues after %d of %d rounds\n", rec.Version, res.Taken, a.Count)
	} else {
		fmt.Fprintf(log, "analysis of release v%d (pods %s): %d metric(s), %d rounds every %s after %s\n", rec.Version, pods, len(a.Metrics), a.Count, a.Interval, a.Delay)
	}
	hb := &heartbeats{last: res}
	defer hb.run(ctx)()
	err = analysis.Run(ctx, rl.Prometheus, a, vars, in.Started, &res, func(r *contract.AnalysisResult, round []contract.Measurement) {
		for _, m := range round {
			fmt.Fprintf(log, "analysis %d/%d: %s\n", r.Taken, a.Count, m)
		}
		hb.set(*r)
	})
	if err != nil {
		return res, err
	}
	if res.Verdict == analysis.Passed {
		fmt.Fprintf(log, "analysis passed: %d rounds within the limits\n", res.Taken)
	} else {
		fmt.Fprintf(log, "analysis %s: %s\n", res.Verdict, res.Reason)
	}
	return res, nil
}
