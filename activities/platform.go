package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/release"
)

// Platform holds the addresses of the components the later phases need:
// the image builder, the registry and the Kubernetes cluster. A phase whose
// component is not configured fails at once with an error that names the
// flag to set; it never pretends to succeed.
type Platform struct {
	BuildKitAddr string
	Registry     string
	Kubeconfig   string
	// Cluster is the Kubeconfig's cluster (or, in a pod with --in-cluster,
	// the pod's own), for deploy and integration.
	Cluster *environments.Cluster
	// Clusters reaches the Kubeconfig's other contexts, for environments
	// that name one.
	Clusters *environments.Clusters
	// Signer signs every baked digest with the commit it was built from;
	// Verifier (its public key) checks that signature before promote,
	// deploy and production accept a digest. Without them images are
	// neither signed nor checked.
	Signer   *image.Signer
	Verifier *image.Verifier
	// Logs receives the phases' progress.
	Logs *logstore.Store
	// NodePower stops and starts nodes for node-down and zone-down chaos
	// faults (nil: they are refused).
	NodePower chaos.NodePower
	// VulnDB is the directory of the OSV vulnerability database promote's
	// scan reads (empty: scans are refused).
	VulnDB string
}

const (
	needBuildKit   = "a BuildKit address: set --buildkit-addr or SLUICE_BUILDKIT_ADDR"
	needRegistry   = "an image registry: set --registry or SLUICE_REGISTRY"
	needKubeconfig = "a Kubernetes cluster: set --kubeconfig or KUBECONFIG (or --in-cluster for a worker in a pod)"
)

// Bake checks the commit out on this worker (build may have run in a pod
// elsewhere), builds the spec's Dockerfile with BuildKit, and pushes the
// image by digest tagged with the commit SHA; then signs it and attests its
// SBOM. A retry after a lost worker builds nothing its run already pushed,
// and signing and attesting again leave one signature and one SBOM.
func (p *Platform) Bake(ctx context.Context, in contract.BakeInput) (_ contract.BakeResult, err error) {
	defer classify(&err)
	switch {
	case p.BuildKitAddr == "":
		return contract.BakeResult{}, missing("bake", needBuildKit)
	case p.Registry == "":
		return contract.BakeResult{}, missing("bake", needRegistry)
	case in.Context != "" && !filepath.IsLocal(in.Context):
		return contract.BakeResult{}, invalid("bake.context %q must be a directory inside the repository", in.Context)
	}
	log, err := p.Logs.Writer(in.RunID, "bake")
	if err != nil {
		return contract.BakeResult{}, err
	}
	defer log.Close()
	defer heartbeat(ctx)()
	// an earlier attempt of this run may have pushed before its worker was
	// lost: that image is the run's, and no second one is built
	res := image.Baked{Repository: in.Image}
	if res.Digest, err = image.BakedBy(ctx, in.Image, in.Source.Commit, in.RunID); err != nil {
		return contract.BakeResult{}, err
	}
	if res.Digest != "" {
		fmt.Fprintf(log, "%s was pushed by an earlier attempt of this run; not building it again\n", res.Ref())
	} else if res, err = p.build(ctx, in, log); err != nil {
		return contract.BakeResult{}, err
	}
	if p.Signer != nil {
		if err := p.Signer.Sign(ctx, in.Image, res.Digest, in.Source.Commit); err != nil {
			return contract.BakeResult{}, err
		}
		fmt.Fprintf(log, "signed %s for commit %s\n", res.Ref(), in.Source.Commit)
		doc, err := image.GenerateSBOM(ctx, in.Image, res.Digest)
		if err != nil {
			return contract.BakeResult{}, fmt.Errorf("SBOM of %s: %w", res.Ref(), err)
		}
		if err := p.Signer.AttestSBOM(ctx, in.Image, res.Digest, doc); err != nil {
			return contract.BakeResult{}, err
		}
		fmt.Fprintf(log, "SBOM attested: %d packages (SPDX 2.3, the Go programs in the image and their modules)\n", len(doc.Packages))
	}
	return contract.BakeResult{Image: in.Image + ":" + in.Source.Commit, Digest: res.Digest}, nil
}

// build checks the commit out on this worker, builds it with BuildKit and
// pushes it, annotated with the run.
func (p *Platform) build(ctx context.Context, in contract.BakeInput, log io.Writer) (image.Baked, error) {
	src, done, err := checkout(ctx, in.Source)
	if err != nil {
		return image.Baked{}, err
	}
	defer done()
	if in.Artifacts != "" {
		repo, digest, _ := strings.Cut(in.Artifacts, "@")
		files, err := image.FetchArtifacts(ctx, repo, digest, src)
		if err != nil {
			return image.Baked{}, err
		}
		fmt.Fprintf(log, "build artifacts %v added to the context\n", files)
	}
	fmt.Fprintf(log, "building %s at %s with BuildKit %s\n", in.Image, in.Source.Commit, p.BuildKitAddr)
	b := &image.Builder{Addr: p.BuildKitAddr}
	res, err := b.Bake(ctx, image.Bake{
		ContextDir: filepath.Join(src, in.Context), Dockerfile: in.Dockerfile, BuildArgs: in.BuildArgs,
		Repository: in.Image, Tags: []string{in.Source.Commit},
		Source: publicURL(in.Source.CloneURL), Revision: in.Source.Commit, Run: in.RunID,
	}, log)
	if err != nil {
		return image.Baked{}, err
	}
	fmt.Fprintf(log, "pushed %s (%d of %d steps from cache)\n", res.Ref(), res.CacheHits, res.Steps)
	return res, nil
}

// Deploy applies the commit's manifests, with the baked digest in place of
// the image they name, to the run's environment and waits for rollout. An
// ephemeral environment's namespace is made here (its deletion is already
// on the run's compensation stack); staging's must exist.
func (p *Platform) Deploy(ctx context.Context, in contract.DeployInput) (_ contract.DeployResult, err error) {
	defer classify(&err)
	if p.Cluster == nil {
		return contract.DeployResult{}, missing("deploy", needKubeconfig)
	}
	if !filepath.IsLocal(in.Manifests) {
		return contract.DeployResult{}, invalid("deploy.manifests %q must be a directory inside the repository", in.Manifests)
	}
	repo, err := repository(in.Image)
	if err != nil {
		return contract.DeployResult{}, err
	}
	if err := p.trusted(ctx, "deploy", repo, in.Digest, in.Source.Commit); err != nil {
		return contract.DeployResult{}, err
	}
	src, done, err := checkout(ctx, in.Source)
	if err != nil {
		return contract.DeployResult{}, err
	}
	defer done()
	objs, err := environments.ReadManifestsAs(filepath.Join(src, in.Manifests), releaseName(in.Pipeline), in.Namespace)
	if err != nil {
		return contract.DeployResult{}, invalid("%v", err)
	}
	if environments.SetImage(objs, repo, in.Digest) == 0 {
		return contract.DeployResult{}, invalid("no container in %s names the image %s (or %s): name it so the baked digest can take its place", in.Manifests, repo, filepath.Base(repo))
	}
	log, err := p.Logs.Writer(in.RunID, "deploy")
	if err != nil {
		return contract.DeployResult{}, err
	}
	defer log.Close()
	defer heartbeat(ctx)()
	if !in.Ephemeral && in.Pipeline != "" {
		return p.deployRelease(ctx, in, objs, log)
	}
	if in.Ephemeral {
		err := p.Cluster.Setup(ctx, environments.Env{
			Namespace: in.Namespace, Pipeline: in.Pipeline, Workflow: in.WorkflowID, Run: in.RunID, Commit: in.Source.Commit,
			TTL: in.TTL, CPU: in.CPU, Memory: in.Memory,
		}, log)
		if err != nil {
			return contract.DeployResult{}, err
		}
		fmt.Fprintf(log, "environment: namespace %s (deleted when the run ends; swept after %s if the run is lost)\n", in.Namespace, ttlOrDefault(in.TTL))
		var services []environments.Service
		for _, s := range in.Services {
			services = append(services, environments.Service{Name: s.Name, Image: s.Image, Ports: s.Ports, Env: s.Env})
		}
		if err := p.Cluster.StartServices(ctx, in.Namespace, in.RunID, services, log); err != nil {
			if errors.Is(err, environments.ErrCannotRun) {
				err = fmt.Errorf("service dependencies: %w", err)
			}
			return contract.DeployResult{}, err
		}
	}
	fmt.Fprintf(log, "deploying %s@%s\n", repo, in.Digest)
	if err := p.Cluster.Apply(ctx, in.Namespace, in.RunID, objs, log); err != nil {
		if errors.Is(err, environments.ErrCannotRun) {
			fmt.Fprintln(log, err)
		}
		return contract.DeployResult{}, err
	}
	return contract.DeployResult{Namespace: in.Namespace}, nil
}

// Integration runs the suite as a Job next to the deployment; a failing
// suite fails the phase (not retried) and the run's compensation deletes
// the environment.
func (p *Platform) Integration(ctx context.Context, in contract.IntegrationInput) (_ contract.IntegrationResult, err error) {
	defer classify(&err)
	if p.Cluster == nil {
		return contract.IntegrationResult{}, missing("integration", needKubeconfig)
	}
	if in.Namespace == "" {
		return contract.IntegrationResult{}, invalid("integration needs the deploy phase's environment")
	}
	log, err := p.Logs.Writer(in.RunID, "integration")
	if err != nil {
		return contract.IntegrationResult{}, err
	}
	defer log.Close()
	defer heartbeat(ctx)()
	res, err := p.Cluster.RunSuite(ctx, in.Namespace, in.RunID, environments.Suite{Name: "integration", Image: in.Image, Commands: in.Commands, Env: in.Env, JUnit: in.JUnit,
		Resume: true}, log)
	if errors.Is(err, environments.ErrCannotRun) {
		// no retry makes a missing image or a pod nowhere fits run
		fmt.Fprintln(log, err)
	}
	if err != nil {
		return contract.IntegrationResult{}, err
	}
	report := ""
	if in.JUnit != "" {
		report = "; junit: no report at " + in.JUnit
		if len(res.Report) > 0 {
			if sum, err := junitSummary(res.Report); err == nil {
				report = "; " + sum
			} else {
				report = fmt.Sprintf("; junit: unreadable report at %s (%v)", in.JUnit, err)
			}
		}
		fmt.Fprintln(log, strings.TrimPrefix(report, "; "))
	}
	if !res.Passed {
		return contract.IntegrationResult{}, stepFailed("integration suite failed (exit %d) after %s%s", res.ExitCode, res.Duration.Round(100*time.Millisecond), report)
	}
	return contract.IntegrationResult{Summary: fmt.Sprintf("integration suite passed in %s%s", res.Duration.Round(100*time.Millisecond), report)}, nil
}

// MarkAvailable adds the available tag to the tested digest.
func (p *Platform) MarkAvailable(ctx context.Context, in contract.PromoteInput) (_ contract.PromoteResult, err error) {
	defer classify(&err)
	if p.Registry == "" {
		return contract.PromoteResult{}, missing("promote", needRegistry)
	}
	repo, err := repository(in.Image)
	if err != nil {
		return contract.PromoteResult{}, err
	}
	defer heartbeat(ctx)()
	if err := p.trusted(ctx, "promote", repo, in.Digest, in.Commit); err != nil {
		return contract.PromoteResult{}, err
	}
	if in.Scan != nil {
		if err := p.scan(ctx, in, repo); err != nil {
			return contract.PromoteResult{}, err
		}
	}
	if err := image.Tag(ctx, repo, in.Digest, in.Tag); err != nil {
		return contract.PromoteResult{}, err
	}
	if in.Replica == "" {
		return contract.PromoteResult{Tag: in.Tag}, nil
	}
	// Replicate to the production registry with the signature and the
	// provenance, tagged there too, and check the copy verifies.
	if err := image.Replicate(ctx, repo, in.Digest, in.Replica, in.Tag, in.Commit); err != nil {
		return contract.PromoteResult{}, err
	}
	if err := p.trusted(ctx, "promote", in.Replica, in.Digest, in.Commit); err != nil {
		return contract.PromoteResult{}, err
	}
	if log, err := p.Logs.Writer(in.RunID, "promote"); err == nil {
		fmt.Fprintf(log, "%s@%s marked %s and replicated to %s with its signature and provenance\n", repo, in.Digest, in.Tag, in.Replica)
		log.Close()
	}
	return contract.PromoteResult{Tag: in.Tag, Replica: in.Replica}, nil
}

// scan matches the digest's SBOM — the signed one when images are signed —
// against the worker's vulnerability database, writes every finding to the
// run log and refuses the digest when the policy does.
func (p *Platform) scan(ctx context.Context, in contract.PromoteInput, repo string) error {
	if p.VulnDB == "" {
		return missing("promote", "a vulnerability database for promote.scan: set --vulnerability-db to a directory of OSV files")
	}
	maxSev, err := image.ParseSeverity(in.Scan.MaxSeverity)
	if err != nil {
		return invalid("promote.scan: %v", err)
	}
	db, err := image.CachedVulnDB(p.VulnDB)
	if err != nil {
		return notConfigured("%v", err)
	}
	var doc image.SBOM
	if p.Verifier != nil {
		doc, err = p.Verifier.VerifiedSBOM(ctx, repo, in.Digest)
	} else {
		doc, err = image.GenerateSBOM(ctx, repo, in.Digest)
	}
	if errors.Is(err, image.ErrUntrusted) {
		return fmt.Errorf("phase promote refuses %s@%s: %w", repo, in.Digest, err)
	}
	if err != nil {
		return err
	}
	findings := image.Scan(doc, db)
	blocking := image.ScanPolicy{MaxSeverity: maxSev, Allow: in.Scan.Allow}.Blocking(findings)
	if log, err := p.Logs.Writer(in.RunID, "promote"); err == nil {
		fmt.Fprintf(log, "scanned %d packages against %d vulnerabilities (%s): %d found, %d above %s and not allowed\n",
			len(doc.Packages), db.Entries, p.VulnDB, len(findings), len(blocking), maxSev)
		for _, f := range findings {
			fmt.Fprintf(log, "  %s\n", f)
		}
		log.Close()
	}
	if len(blocking) == 0 {
		return nil
	}
	var ids []string
	for _, f := range blocking {
		ids = append(ids, f.ID+" ("+f.Package+" "+f.Version+", "+f.Severity.String()+")")
	}
	return fail(errVulnerable, "phase promote refuses %s@%s: %d vulnerabilities above %s: %s; upgrade the packages, or accept them in promote.scan.allow",
		repo, in.Digest, len(blocking), maxSev, strings.Join(ids, ", "))
}

// RemoveTag undoes MarkAvailable: the tag goes when it still names the
// run's digest. With no registry configured no tag can exist.
func (p *Platform) RemoveTag(ctx context.Context, in contract.TagRef) (err error) {
	defer classify(&err)
	if p.Registry == "" || in.Image == "" || in.Tag == "" {
		return nil
	}
	defer heartbeat(ctx)()
	repo, err := repository(in.Image)
	if err != nil {
		return err
	}
	if in.Replica != "" {
		if err := image.Untag(ctx, in.Replica, in.Digest, in.Tag); err != nil {
			return err
		}
	}
	return image.Untag(ctx, repo, in.Digest, in.Tag)
}

// repository strips the tag from "registry/team/app:tag".
func repository(ref string) (string, error) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	if ref == "" {
		return "", invalid("no image to tag: the run has no bake output")
	}
	return ref, nil
}

// DeleteEnvironment deletes a run's test namespace (only one labelled with
// the run). With no cluster configured no environment can exist.
func (p *Platform) DeleteEnvironment(ctx context.Context, in contract.EnvironmentRef) (err error) {
	defer classify(&err)
	if p.Cluster == nil || in.Namespace == "" {
		return nil
	}
	defer heartbeat(ctx)()
	return p.Cluster.DeleteNamespace(ctx, in.Namespace, in.RunID)
}

// checkout puts the commit in a temporary directory on this worker; done
// removes it.
func checkout(ctx context.Context, src contract.Source) (string, func(), error) {
	tmp, err := os.MkdirTemp("", "sluice-src-")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.RemoveAll(tmp) }
	dir := filepath.Join(tmp, "src")
	if err := gitsrc.Checkout(ctx, src.CloneURL, src.Commit, dir); err != nil {
		done()
		return "", nil, err
	}
	return dir, done, nil
}

func ttlOrDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return environments.DefaultTTL
	}
	return d
}

// releaseName names a Helm chart's release: the pipeline's name.
func releaseName(pipeline string) string {
	if pipeline == "" {
		return "sluice"
	}
	return strings.ToLower(pipeline)
}

// deployRelease deploys to a long-lived environment (staging) as a release
// with the environment's strategy: recorded, undone by UndoRelease when the
// run fails later. The integration suite that follows is the verify; a
// blue-green color replaced here is retired at once.
func (p *Platform) deployRelease(ctx context.Context, in contract.DeployInput, objs []*unstructured.Unstructured, log io.Writer) (contract.DeployResult, error) {
	cluster, err := p.cluster(in.Context)
	if err != nil {
		return contract.DeployResult{}, err
	}
	r := &release.Releaser{Cluster: cluster}
	_, err = r.Release(ctx, release.Request{
		Pipeline: in.Pipeline, Namespace: in.Namespace, Run: in.RunID, Commit: in.Source.Commit, Digest: in.Digest,
		Strategy: in.Strategy, Objects: objs,
	}, log)
	switch {
	case errors.Is(err, release.ErrNoNamespace):
		return contract.DeployResult{}, invalid("%v", err)
	case errors.Is(err, release.ErrVerifyFailed), errors.Is(err, release.ErrRolledBack):
		return contract.DeployResult{}, stepFailed("%v", err)
	case err != nil:
		return contract.DeployResult{}, err
	}
	if err := r.Retire(ctx, in.Namespace, in.Pipeline, in.RunID, log); err != nil {
		return contract.DeployResult{}, err
	}
	return contract.DeployResult{Namespace: in.Namespace}, nil
}

// trusted refuses a digest that does not carry this installation's
// signature for the run's commit (not retried: no retry signs it). A
// registry that cannot be reached is retried.
func (p *Platform) trusted(ctx context.Context, phase, repo, digest, commit string) error {
	if p.Verifier == nil {
		return nil
	}
	_, err := p.Verifier.Verify(ctx, repo, digest, commit)
	if errors.Is(err, image.ErrUntrusted) {
		return fmt.Errorf("phase %s refuses %s@%s: %w", phase, repo, digest, err)
	}
	return err
}

// publicURL is a repository URL without any credentials in it, fit to be
// recorded in an image's provenance.
func publicURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}
