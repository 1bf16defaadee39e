package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/logstore"
)

// Platform holds the addresses of the components the later phases need:
// the image builder, the registry and the Kubernetes cluster. A phase whose
// component is not configured fails at once with an error that names the
// flag to set; it never pretends to succeed.
type Platform struct {
	BuildKitAddr string
	Registry     string
	Kubeconfig   string
	// Logs receives the bake's progress.
	Logs *logstore.Store
}

func missing(phase, what string) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("phase %s needs %s", phase, what), ErrNotConfigured, nil)
}

func unsupported(phase, component string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("phase %s: this sluice version cannot run it on %s; remove %s from .sluice.yml to run the other phases", phase, component, phase),
		ErrUnsupported, nil)
}

const (
	needBuildKit   = "a BuildKit address: set --buildkit-addr or SLUICE_BUILDKIT_ADDR"
	needRegistry   = "an image registry: set --registry or SLUICE_REGISTRY"
	needKubeconfig = "a Kubernetes cluster: set --kubeconfig or KUBECONFIG"
)

// Bake checks the commit out on this worker (build may have run in a pod
// elsewhere), builds the spec's Dockerfile with BuildKit, and pushes the
// image by digest tagged with the commit SHA.
func (p *Platform) Bake(ctx context.Context, in contract.BakeInput) (contract.BakeResult, error) {
	switch {
	case p.BuildKitAddr == "":
		return contract.BakeResult{}, missing("bake", needBuildKit)
	case p.Registry == "":
		return contract.BakeResult{}, missing("bake", needRegistry)
	case in.Context != "" && !filepath.IsLocal(in.Context):
		return contract.BakeResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("bake.context %q must be a directory inside the repository", in.Context), ErrInvalidInput, nil)
	}
	tmp, err := os.MkdirTemp("", "sluice-bake-")
	if err != nil {
		return contract.BakeResult{}, err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "src")
	if err := gitsrc.Checkout(ctx, in.Source.CloneURL, in.Source.Commit, src); err != nil {
		if errors.Is(err, gitsrc.ErrNotFound) || errors.Is(err, gitsrc.ErrBadCommit) {
			return contract.BakeResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrSource, err)
		}
		return contract.BakeResult{}, err
	}
	log, err := p.Logs.Writer(in.RunID, "bake")
	if err != nil {
		return contract.BakeResult{}, err
	}
	defer log.Close()
	fmt.Fprintf(log, "building %s at %s with BuildKit %s\n", in.Image, in.Source.Commit, p.BuildKitAddr)
	b := &image.Builder{Addr: p.BuildKitAddr}
	res, err := b.Bake(ctx, image.Bake{
		ContextDir: filepath.Join(src, in.Context), Dockerfile: in.Dockerfile, BuildArgs: in.BuildArgs,
		Repository: in.Image, Tags: []string{in.Source.Commit},
	}, log)
	if errors.Is(err, image.ErrBuild) {
		return contract.BakeResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrStepFailed, nil)
	}
	if err != nil {
		return contract.BakeResult{}, err
	}
	fmt.Fprintf(log, "pushed %s (%d of %d steps from cache)\n", res.Ref(), res.CacheHits, res.Steps)
	return contract.BakeResult{Image: in.Image + ":" + in.Source.Commit, Digest: res.Digest}, nil
}

// Deploy applies the manifests to the environment and waits for rollout.
func (p *Platform) Deploy(ctx context.Context, in contract.DeployInput) (contract.DeployResult, error) {
	if p.Kubeconfig == "" {
		return contract.DeployResult{}, missing("deploy", needKubeconfig)
	}
	return contract.DeployResult{}, unsupported("deploy", "Kubernetes")
}

// Integration runs the integration job against the deployment.
func (p *Platform) Integration(ctx context.Context, in contract.IntegrationInput) (contract.IntegrationResult, error) {
	if p.Kubeconfig == "" {
		return contract.IntegrationResult{}, missing("integration", needKubeconfig)
	}
	return contract.IntegrationResult{}, unsupported("integration", "Kubernetes")
}

// MarkAvailable adds the available tag to the tested digest.
func (p *Platform) MarkAvailable(ctx context.Context, in contract.PromoteInput) (contract.PromoteResult, error) {
	if p.Registry == "" {
		return contract.PromoteResult{}, missing("promote", needRegistry)
	}
	repo, err := repository(in.Image)
	if err != nil {
		return contract.PromoteResult{}, err
	}
	if err := image.Tag(ctx, repo, in.Digest, in.Tag); err != nil {
		return contract.PromoteResult{}, err
	}
	return contract.PromoteResult{Tag: in.Tag}, nil
}

// RemoveTag undoes MarkAvailable: the tag goes when it still names the
// run's digest. With no registry configured no tag can exist.
func (p *Platform) RemoveTag(ctx context.Context, in contract.TagRef) error {
	if p.Registry == "" || in.Image == "" || in.Tag == "" {
		return nil
	}
	repo, err := repository(in.Image)
	if err != nil {
		return err
	}
	return image.Untag(ctx, repo, in.Digest, in.Tag)
}

// repository strips the tag from "registry/team/app:tag".
func repository(ref string) (string, error) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	if ref == "" {
		return "", temporal.NewNonRetryableApplicationError("no image to tag: the run has no bake output", ErrInvalidInput, nil)
	}
	return ref, nil
}

// Production releases to the production environment.
func (p *Platform) Production(ctx context.Context, in contract.ProductionInput) (contract.ProductionResult, error) {
	if p.Kubeconfig == "" {
		return contract.ProductionResult{}, missing("production", needKubeconfig)
	}
	return contract.ProductionResult{}, unsupported("production", "Kubernetes")
}

// DeleteEnvironment deletes a run's test namespace. With no cluster
// configured no environment can exist, so there is nothing to delete.
func (p *Platform) DeleteEnvironment(ctx context.Context, in contract.EnvironmentRef) error {
	if p.Kubeconfig == "" {
		return nil
	}
	return unsupported("deploy", "Kubernetes")
}
