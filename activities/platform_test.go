package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/release"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestDeployToStagingIsARelease deploys a commit to a long-lived staging
// namespace through the Deploy activity, as two runs: each is a release
// with staging's strategy (blue-green: the replaced color retired at once),
// and UndoRelease of the second brings the first back.
func TestDeployToStagingIsARelease(t *testing.T) {
	for _, strategy := range []string{pipelines.Rolling, pipelines.BlueGreen} {
		t.Run(strategy, func(t *testing.T) {
			p, plat := testPlatform(t)
			c := plat.Cluster
			ctx := context.Background()
			ns, repo, commit := stagingApp(t, plat)
			busybox := p.Registry + "/sluice/busybox"
			digest, err := image.Digest(ctx, busybox, "latest")
			if err != nil {
				t.Fatal(err)
			}
			deploy := func(run string) {
				t.Helper()
				_, err := plat.Environments().Deploy(ctx, contract.DeployInput{
					RunID: run, Source: contract.Source{CloneURL: repo, Commit: commit}, Image: busybox + ":latest", Digest: digest,
					Namespace: ns, Manifests: "deploy", Pipeline: "web", Strategy: strategy,
				})
				if err != nil {
					t.Fatalf("deploy %s: %v", run, err)
				}
			}
			deploy("run-1")
			deploy("run-2")
			r := &release.Releaser{Cluster: c}
			if got := states(t, r, ns); got != "v1:superseded v2:live" {
				t.Fatalf("releases %s", got)
			}
			if strategy == pipelines.BlueGreen {
				blue, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web-blue", metav1.GetOptions{})
				if err != nil || *blue.Spec.Replicas != 0 {
					t.Fatalf("staging's replaced color was not retired: %v", err)
				}
			}
			if err := plat.Releases().UndoRelease(ctx, contract.ReleaseRef{RunID: "run-2", Pipeline: "web", Namespace: ns}); err != nil {
				t.Fatal(err)
			}
			if got := states(t, r, ns); got != "v1:live v2:rolled-back" {
				t.Fatalf("releases after undo %s", got)
			}
			name := "web"
			if strategy == pipelines.BlueGreen {
				name = "web-blue"
			}
			d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || d.Labels[environments.LabelRun] != "run-1" {
				t.Fatalf("after undo %s is not run-1's: %v", name, err)
			}
			// UndoRelease returned once the rollout was available; a
			// readiness probe of one second may flap on a loaded machine
			// afterwards, so availability is awaited, not sampled once
			poll.Until(t, name+" available", func() bool {
				d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
				return err == nil && d.Status.AvailableReplicas == 1
			})
		})
	}
}

// stagingApp makes a long-lived namespace and a repository whose deploy/
// holds the web app, and returns them with the repository's commit.
func stagingApp(t *testing.T, plat *Platform) (ns, repo, commit string) {
	t.Helper()
	c := plat.Cluster
	ns = fmt.Sprintf("sluice-staging-test-%d", time.Now().UnixNano()%1_000_000_000)
	if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	src := filepath.Join(t.TempDir(), "app")
	web, err := os.ReadFile("../environments/testdata/web/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "deploy", "web.yaml"), web, 0o644); err != nil {
		t.Fatal(err)
	}
	repo, commit = gitsrctest.Repo(t, src, "")
	return ns, repo, commit
}

// TestRollbackNeedsTheSignature: a Rollback run's activity refuses to
// bring back a release whose image does not carry this installation's
// signature for its commit (UntrustedImage, not retried; the releases
// unchanged), and brings it back once the image is signed.
func TestRollbackNeedsTheSignature(t *testing.T) {
	_, plat := testPlatform(t)
	ctx := context.Background()
	// two releases made before the installation signed anything
	ns, _, commit, img, digest := releasedTwice(t, plat)
	signer, err := image.EnsureKeys(filepath.Join(t.TempDir(), "signing.key"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	plat.Verifier = signer.Verifier()
	releases := plat.Releases()
	var suite testsuite.WorkflowTestSuite
	rollback := func() (contract.RollbackResult, error) {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(releases)
		v, err := env.ExecuteActivity(releases.RollbackRelease, contract.RollbackInput{Pipeline: "web", Namespace: ns, By: "alice (API token alice-laptop)", Reason: "v2 is slow"})
		var res contract.RollbackResult
		if err == nil {
			err = v.Get(&res)
		}
		return res, err
	}
	r := &release.Releaser{Cluster: plat.Cluster}
	_, err = rollback()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrUntrusted || !appErr.NonRetryable() {
		t.Fatalf("rollback to an unsigned release: want a non-retryable UntrustedImage, got %v", err)
	}
	if got := states(t, r, ns); got != "v1:superseded v2:live" {
		t.Fatalf("a refused rollback changed the releases: %s", got)
	}
	if err := signer.Sign(ctx, img, digest, commit); err != nil {
		t.Fatal(err)
	}
	res, err := rollback()
	if err != nil || res.Version != 3 || res.RollbackOf != 1 {
		t.Fatalf("rollback to the signed release: %+v %v", res, err)
	}
}

// releasedTwice releases busybox, as a copy of its own, twice into a
// staging namespace of the pipeline web (v1 superseded, v2 live), with
// whatever Trust plat has.
func releasedTwice(t *testing.T, plat *Platform) (ns, repo, commit, img, digest string) {
	t.Helper()
	ctx := context.Background()
	p := testenv.Require(t)
	ns, repo, commit = stagingApp(t, plat)
	img = fmt.Sprintf("%s/sluice-test/releases-%d/busybox", p.Registry, time.Now().UnixNano()) // the manifest names busybox
	if err := crane.Copy(p.Registry+"/sluice/busybox:latest", img+":x", crane.Insecure, crane.WithJobs(1)); err != nil {
		t.Fatal(err)
	}
	digest, err := image.Digest(ctx, img, "x")
	if err != nil {
		t.Fatal(err)
	}
	if plat.Signer != nil {
		if err := plat.Signer.Sign(ctx, img, digest, commit); err != nil {
			t.Fatal(err)
		}
	}
	for _, run := range []string{"run-1", "run-2"} {
		if _, err := plat.Environments().Deploy(ctx, contract.DeployInput{
			RunID: run, Source: contract.Source{CloneURL: repo, Commit: commit}, Image: img + ":x", Digest: digest,
			Namespace: ns, Manifests: "deploy", Pipeline: "web", Strategy: pipelines.Rolling,
		}); err != nil {
			t.Fatalf("deploy %s: %v", run, err)
		}
	}
	return ns, repo, commit, img, digest
}

func states(t *testing.T, r *release.Releaser, ns string) string {
	t.Helper()
	all, err := r.List(context.Background(), ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, rec := range all {
		s = append(s, fmt.Sprintf("v%d:%s", rec.Version, rec.State))
	}
	return strings.Join(s, " ")
}

// TestUnsignedImagesAreRefused: with a signing key configured, promote,
// deploy and production refuse a digest without this installation's
// signature for the run's commit — unsigned, or signed for another commit
// — as UntrustedImage, not retried; the signed digest passes promote and
// is replicated, signature included, to the production registry; the
// compensation removes the tag from both registries.
func TestUnsignedImagesAreRefused(t *testing.T) {
	p, plat, signer := signingPlatform(t)
	ctx := context.Background()
	repo := fmt.Sprintf("%s/sluice-test/untrusted-%d", p.Registry, time.Now().UnixNano())
	if err := crane.Copy(p.Registry+"/sluice/busybox:latest", repo+":x", crane.Insecure, crane.WithJobs(1)); err != nil {
		t.Fatal(err)
	}
	digest, err := image.Digest(ctx, repo, "x")
	if err != nil {
		t.Fatal(err)
	}
	commit, other := strings.Repeat("1", 40), strings.Repeat("2", 40)
	untrusted := func(what string, err error) {
		t.Helper()
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != contract.ErrUntrusted || !appErr.NonRetryable() {
			t.Fatalf("%s: want a non-retryable UntrustedImage, got %v", what, err)
		}
	}
	_, err = plat.Images().MarkAvailable(ctx, contract.PromoteInput{RunID: "r", Commit: commit, Image: repo + ":x", Digest: digest, Tag: "available"})
	untrusted("promote of an unsigned digest", err)
	_, err = plat.Environments().Deploy(ctx, contract.DeployInput{RunID: "r", Source: contract.Source{CloneURL: "unused", Commit: commit}, Image: repo + ":x", Digest: digest, Namespace: "unused", Manifests: "deploy"})
	untrusted("deploy of an unsigned digest", err)

	if err := signer.Sign(ctx, repo, digest, other); err != nil {
		t.Fatal(err)
	}
	_, err = plat.Releases().Production(ctx, contract.ProductionInput{RunID: "r", Pipeline: "p", Namespace: "unused", Source: contract.Source{CloneURL: "unused", Commit: commit}, Image: repo + ":x", Digest: digest, Manifests: "deploy"})
	untrusted("production of a digest signed for another commit", err)

	if err := signer.Sign(ctx, repo, digest, commit); err != nil {
		t.Fatal(err)
	}
	replica := contract.ReplicaRepository(p.ProdRegistry, repo)
	res, err := plat.Images().MarkAvailable(ctx, contract.PromoteInput{RunID: "r", Commit: commit, Image: repo + ":x", Digest: digest, Tag: "available", Replica: replica})
	if err != nil || res.Replica != replica {
		t.Fatalf("promote of the signed digest: %+v %v", res, err)
	}
	for _, r := range []string{repo, replica} {
		if got, err := image.Digest(ctx, r, "available"); err != nil || got != digest {
			t.Fatalf("%s:available = %s %v", r, got, err)
		}
	}
	if _, err := signer.Verifier().Verify(ctx, replica, digest, commit); err != nil {
		t.Fatalf("the replica's signature: %v", err)
	}
	// a failure after promote: the compensation removes both tags, twice is fine
	for range 2 {
		if err := plat.Images().RemoveTag(ctx, contract.TagRef{RunID: "r", Image: repo + ":x", Digest: digest, Tag: "available", Replica: replica}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []string{repo, replica} {
		if got, err := image.Digest(ctx, r, "available"); err == nil {
			t.Fatalf("%s:available still names %s after the undo", r, got)
		}
	}
}

// TestDeployAHelmChart deploys a Helm chart from the commit into a run's
// test environment: rendered with the pipeline as release name, the baked
// digest in place of the chart's image, rolled out.
func TestDeployAHelmChart(t *testing.T) {
	p, plat := testPlatform(t)
	c := plat.Cluster
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "app")
	chart := filepath.Join(src, "deploy", "chart")
	if err := os.MkdirAll(filepath.Join(chart, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"values.yaml": "image: busybox:latest\nreplicas: 1\n",
		"templates/web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}-web}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - {name: web, image: {{ .Values.image | quote }}, command: [sh, -c, "exec sleep 3600"]}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(chart, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo, commit := gitsrctest.Repo(t, src, "")
	busybox := p.Registry + "/sluice/busybox"
	digest, err := image.Digest(ctx, busybox, "latest")
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("sluice-helm-test-%d", time.Now().UnixNano()%1_000_000_000)
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if _, err := plat.Environments().Deploy(ctx, contract.DeployInput{
		RunID: "run-helm", Source: contract.Source{CloneURL: repo, Commit: commit}, Image: busybox + ":latest", Digest: digest,
		Namespace: ns, Ephemeral: true, Manifests: "deploy/chart", Pipeline: "shop",
	}); err != nil {
		t.Fatal(err)
	}
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "shop-web", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != busybox+"@"+digest || d.Status.AvailableReplicas != 1 {
		t.Fatalf("the chart's deployment: %v", err)
	}
}

// testPlatform is the local platform and a Platform on its cluster (no
// BuildKit, registry or signing key unless the test sets them).
// signingPlatform is testPlatform with the registry and a signing key.
func signingPlatform(t *testing.T) (*testenv.Platform, *Platform, *image.Signer) {
	t.Helper()
	p, plat := testPlatform(t)
	signer, err := image.EnsureKeys(filepath.Join(t.TempDir(), "signing.key"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	plat.Registry, plat.Signer, plat.Verifier = p.Registry, signer, signer.Verifier()
	return p, plat, signer
}

func testPlatform(t *testing.T) (*testenv.Platform, *Platform) {
	t.Helper()
	p := testenv.Require(t)
	clusters := &environments.Clusters{Kubeconfig: p.Kubeconfig}
	c, err := clusters.Context("")
	if err != nil {
		t.Fatal(err)
	}
	logs, err := logstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, &Platform{Kubeconfig: p.Kubeconfig, Cluster: c, Clusters: clusters, Logs: logs}
}

// TestBuildArtifactsReachBake: the build writes a file the repository does
// not hold; build.artifacts pushes it next to the image, and bake's
// Dockerfile COPYs it. Without the artifacts the same bake fails.
func TestBuildArtifactsReachBake(t *testing.T) {
	p, plat := testPlatform(t)
	plat.BuildKitAddr, plat.Registry = p.BuildKitAddr, p.Registry
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "app")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "Dockerfile"), []byte("FROM scratch\nCOPY out/app.txt /app.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, commit := gitsrctest.Repo(t, src, "")
	steps := &Steps{Exec: &executor.Local{Root: filepath.Join(t.TempDir(), "ws")}, Logs: plat.Logs}
	var suite testsuite.WorkflowTestSuite
	run := func(in contract.StepsInput) (contract.StepsResult, error) {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(steps)
		v, err := env.ExecuteActivity(steps.Run, in)
		var res contract.StepsResult
		if err == nil {
			err = v.Get(&res)
		}
		return res, err
	}
	imageRepo := fmt.Sprintf("%s/sluice-test/artifacts-%d", p.Registry, time.Now().UnixNano())
	built, err := run(contract.StepsInput{
		RunID: "run-a", Phase: "build", Source: contract.Source{CloneURL: repo, Commit: commit},
		Commands: []string{"mkdir -p out && echo built-by-the-build-phase > out/app.txt"}, Timeout: time.Minute,
		Artifacts: []string{"out/app.txt"}, ArtifactRepo: imageRepo,
	})
	if err != nil || !strings.HasPrefix(built.Artifacts, imageRepo+"@sha256:") {
		t.Fatalf("build: %+v %v", built, err)
	}
	in := contract.BakeInput{RunID: "run-a", Source: contract.Source{CloneURL: repo, Commit: commit}, Image: imageRepo}
	if _, err := plat.Images().Bake(ctx, in); err == nil {
		t.Fatal("the Dockerfile found out/app.txt without the artifacts")
	}
	in.Artifacts = built.Artifacts
	if _, err := plat.Images().Bake(ctx, in); err != nil {
		t.Fatalf("bake with the artifacts: %v", err)
	}
	// a declared artifact the build did not produce fails the build
	_, err = run(contract.StepsInput{
		RunID: "run-b", Phase: "build", Source: contract.Source{CloneURL: repo, Commit: commit},
		Commands: []string{"true"}, Timeout: time.Minute, Artifacts: []string{"out/missing.bin"}, ArtifactRepo: imageRepo,
	})
	if err == nil || !strings.Contains(err.Error(), "out/missing.bin") {
		t.Fatalf("a missing artifact: %v", err)
	}
}

// TestPromoteScanGate bakes an image holding this machine's dpkg database,
// signs it and attests its SBOM as bake does, and promotes it with a scan
// policy against the test OSV database: glibc's test vulnerability (high)
// refuses the digest under max-severity medium, untagged, with the finding
// in the run log; accepting its CVE alias lets the tag on; a worker without
// a database refuses the scan instead of skipping it.
func TestPromoteScanGate(t *testing.T) {
	p, plat, signer := signingPlatform(t)
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY status /var/lib/dpkg/status\nCOPY os-release /usr/lib/os-release\n"), 0o644)
	for src, dst := range map[string]string{"/var/lib/dpkg/status": "status", "/usr/lib/os-release": "os-release"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal("this test bakes the dpkg database of the machine it runs on (Debian, as the platform): ", err)
		}
		os.WriteFile(filepath.Join(dir, dst), b, 0o644)
	}
	repo := fmt.Sprintf("%s/sluice-test/scan-%d", p.Registry, time.Now().UnixNano())
	baked, err := (&image.Builder{Addr: p.BuildKitAddr}).Bake(ctx, image.Bake{ContextDir: dir, Repository: repo, Tags: []string{"x"}}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	commit := strings.Repeat("3", 40)
	if err := signer.Sign(ctx, repo, baked.Digest, commit); err != nil {
		t.Fatal(err)
	}
	doc, err := image.GenerateSBOM(ctx, repo, baked.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.AttestSBOM(ctx, repo, baked.Digest, doc); err != nil {
		t.Fatal(err)
	}
	promote := func(runID string, scan *contract.ScanPolicy) error {
		_, err := plat.Images().MarkAvailable(ctx, contract.PromoteInput{RunID: runID, Commit: commit, Image: repo + ":x", Digest: baked.Digest, Tag: "available", Scan: scan})
		return err
	}
	var appErr *temporal.ApplicationError
	if err := promote("no-db", &contract.ScanPolicy{MaxSeverity: "medium"}); !errors.As(err, &appErr) || appErr.Type() != ErrNotConfigured || !strings.Contains(err.Error(), "--vulnerability-db") {
		t.Fatalf("a scan without a database: %v", err)
	}
	plat.VulnDB = "../examples/vulndb"
	err = promote("refused", &contract.ScanPolicy{MaxSeverity: "medium"})
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrVulnerable || !appErr.NonRetryable() || !strings.Contains(err.Error(), "TEST-DEB-0001 (libc6 ") {
		t.Fatalf("want a non-retryable VulnerableImage naming TEST-DEB-0001, got %v", err)
	}
	if got, err := image.Digest(ctx, repo, "available"); err == nil {
		t.Fatalf("the refused digest was tagged available (%s)", got)
	}
	logPath, err := plat.Logs.Path("refused")
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(log), "TEST-DEB-0001: libc6 ") || !strings.Contains(string(log), "severity high, fixed in 2.36-9+deb12u99") {
		t.Fatalf("run log lacks the finding: %v\n%s", err, log)
	}
	if err := promote("allowed", &contract.ScanPolicy{MaxSeverity: "medium", Allow: []string{"CVE-2099-1001"}}); err != nil {
		t.Fatalf("with the finding allowed: %v", err)
	}
	if got, err := image.Digest(ctx, repo, "available"); err != nil || got != baked.Digest {
		t.Fatalf("available = %s %v", got, err)
	}
}
