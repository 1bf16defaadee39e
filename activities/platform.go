package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/contract"
)

// Platform holds the addresses of the components the later phases need:
// the image builder, the registry and the Kubernetes cluster. A phase whose
// component is not configured fails at once with an error that names the
// flag to set; it never pretends to succeed.
type Platform struct {
	BuildKitAddr string
	Registry     string
	Kubeconfig   string
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

// Bake builds the image with BuildKit and pushes it.
func (p *Platform) Bake(ctx context.Context, in contract.BakeInput) (contract.BakeResult, error) {
	switch {
	case p.BuildKitAddr == "":
		return contract.BakeResult{}, missing("bake", needBuildKit)
	case p.Registry == "":
		return contract.BakeResult{}, missing("bake", needRegistry)
	}
	return contract.BakeResult{}, unsupported("bake", "BuildKit at "+p.BuildKitAddr)
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
	return contract.PromoteResult{}, unsupported("promote", "registry "+p.Registry)
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

// RemoveTag removes the available tag. With no registry configured no tag
// can exist, so there is nothing to remove.
func (p *Platform) RemoveTag(ctx context.Context, in contract.TagRef) error {
	if p.Registry == "" {
		return nil
	}
	return unsupported("promote", "registry "+p.Registry)
}
