package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/release"
	"github.com/sluice-cd/sluice/secrets"
)

// Environments makes each run's test environment, deploys into it (or
// releases into staging) and runs the integration suite there: the deploy
// and integration phases and deploy's undo.
type Environments struct {
	Clusters
	Trust
	// Signer attests a passed integration suite's test result for the
	// digest it ran against; nil: nothing is attested.
	Signer *image.Signer
	Logs   *logstore.Store
	// Secrets reads the pipeline secrets the integration Job names.
	Secrets *secrets.Reader
}

// Deploy applies the commit's manifests, with the baked digest in place of
// the image they name, to the run's environment and waits for rollout. An
// ephemeral environment's namespace is made here (its deletion is already
// on the run's compensation stack); staging's must exist.
func (en *Environments) Deploy(ctx context.Context, in contract.DeployInput) (_ contract.DeployResult, err error) {
	defer classify(&err)
	if en.Cluster == nil {
		return contract.DeployResult{}, missing("deploy", needKubeconfig)
	}
	if !filepath.IsLocal(in.Manifests) {
		return contract.DeployResult{}, invalid("deploy.manifests %q must be a directory inside the repository", in.Manifests)
	}
	repo, err := repository(in.Image)
	if err != nil {
		return contract.DeployResult{}, err
	}
	if err := en.check(ctx, "deploy", repo, in.Digest, in.Source.Commit); err != nil {
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
	// every object is held to the environment's guard before anything,
	// the test namespace included, is made
	if err := deploy.Check(in.Guard, in.Namespace, objs); err != nil {
		return contract.DeployResult{}, err
	}
	ctx = deploy.WithGuard(ctx, in.Guard)
	values, err := en.Secrets.Read(ctx, in.Secrets)
	if err != nil {
		return contract.DeployResult{}, err
	}
	log, err := en.Logs.WithSecrets(secrets.Plain(values)).Writer(in.RunID, "deploy")
	if err != nil {
		return contract.DeployResult{}, err
	}
	defer log.Close()
	defer heartbeat(ctx)()
	if !in.Ephemeral && in.Pipeline != "" {
		return en.deployRelease(ctx, in, objs, secrets.All(values), log)
	}
	if in.Ephemeral {
		err := en.Cluster.Setup(ctx, environments.Env{
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
		if err := en.Cluster.StartServices(ctx, in.Namespace, in.RunID, services, log); err != nil {
			if errors.Is(err, environments.ErrCannotRun) {
				err = fmt.Errorf("service dependencies: %w", err)
			}
			return contract.DeployResult{}, err
		}
		if len(values) > 0 {
			// the namespace's: deleted with it
			if err := en.Cluster.PutSecret(ctx, in.Namespace, environments.AppSecret, in.RunID, secrets.All(values), nil); err != nil {
				return contract.DeployResult{}, err
			}
			fmt.Fprintf(log, "secrets: %s in Secret %s\n", strings.Join(in.Secrets.Names, ", "), environments.AppSecret)
		}
	}
	fmt.Fprintf(log, "deploying %s@%s\n", repo, in.Digest)
	if err := en.Cluster.Apply(ctx, in.Namespace, in.RunID, objs, log); err != nil {
		if errors.Is(err, environments.ErrCannotRun) {
			fmt.Fprintln(log, err)
		}
		return contract.DeployResult{}, err
	}
	return contract.DeployResult{Namespace: in.Namespace}, nil
}

// deployRelease deploys to a long-lived environment (staging) as a release
// with the environment's strategy: recorded, undone by UndoRelease when the
// run fails later. The integration suite that follows is the verify; a
// blue-green color replaced here is retired at once.
func (en *Environments) deployRelease(ctx context.Context, in contract.DeployInput, objs []*unstructured.Unstructured, values map[string]string, log io.Writer) (contract.DeployResult, error) {
	cluster, err := en.get(in.Context)
	if err != nil {
		return contract.DeployResult{}, err
	}
	r := &release.Releaser{Cluster: cluster}
	_, err = r.Release(ctx, release.Request{
		Pipeline: in.Pipeline, Namespace: in.Namespace, Run: in.RunID, Commit: in.Source.Commit, Digest: in.Digest,
		Strategy: in.Strategy, Objects: objs, Secrets: values,
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

// Integration runs the suite as a Job next to the deployment; a failing
// suite fails the phase (not retried) and the run's compensation deletes
// the environment.
func (en *Environments) Integration(ctx context.Context, in contract.IntegrationInput) (_ contract.IntegrationResult, err error) {
	defer classify(&err)
	if en.Cluster == nil {
		return contract.IntegrationResult{}, missing("integration", needKubeconfig)
	}
	if in.Namespace == "" {
		return contract.IntegrationResult{}, invalid("integration needs the deploy phase's environment")
	}
	values, err := en.Secrets.Read(ctx, in.Secrets)
	if err != nil {
		return contract.IntegrationResult{}, err
	}
	logs := en.Logs.WithSecrets(secrets.Plain(values))
	log, err := logs.Writer(in.RunID, "integration")
	if err != nil {
		return contract.IntegrationResult{}, err
	}
	defer log.Close()
	defer heartbeat(ctx)()
	res, err := en.Cluster.RunSuite(ctx, in.Namespace, in.RunID, environments.Suite{Name: "integration", Image: in.Image, Commands: in.Commands, Env: in.Env, JUnit: in.JUnit, Secrets: secrets.Env(values), SecretFiles: secrets.Files(values),
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
		// the report's words go into the run's history: no secret in them
		report = string(logs.Redact([]byte(report)))
		fmt.Fprintln(log, strings.TrimPrefix(report, "; "))
	}
	if !res.Passed {
		return contract.IntegrationResult{}, stepFailed("integration suite failed (exit %d) after %s%s", res.ExitCode, res.Duration.Round(100*time.Millisecond), report)
	}
	if err := en.attestTested(ctx, in, log); err != nil {
		return contract.IntegrationResult{}, err
	}
	return contract.IntegrationResult{Summary: fmt.Sprintf("integration suite passed in %s%s", res.Duration.Round(100*time.Millisecond), report)}, nil
}

// attestTested attests, signed, that the integration suite passed against
// the run's digest: what an environment requiring test-result checks
// before the digest may run there. A failed suite attests nothing.
func (en *Environments) attestTested(ctx context.Context, in contract.IntegrationInput, log io.Writer) error {
	if en.Signer == nil || in.Digest == "" {
		return nil
	}
	repo, err := repository(in.Subject)
	if err != nil {
		return invalid("%v", err)
	}
	r := image.TestResult{Result: "PASSED", Configuration: []image.ResourceDescriptor{
		{Name: "integration suite", URI: in.Image},
		{Name: "commit", Digest: map[string]string{"gitCommit": in.Commit}},
		{Name: "run", URI: "sluice:run/" + in.RunID},
	}}
	if err := en.Signer.AttestTestResult(ctx, repo, in.Digest, r); err != nil {
		return err
	}
	fmt.Fprintf(log, "attested: %s@%s passed its integration suite (%s)\n", repo, in.Digest, image.PredicateTestResult)
	return nil
}

// DeleteEnvironment deletes a run's test namespace (only one labelled with
// the run). With no cluster configured no environment can exist.
func (en *Environments) DeleteEnvironment(ctx context.Context, in contract.EnvironmentRef) (err error) {
	defer classify(&err)
	if en.Cluster == nil || in.Namespace == "" {
		return nil
	}
	defer heartbeat(ctx)()
	return en.Cluster.DeleteNamespace(ctx, in.Namespace, in.RunID)
}
