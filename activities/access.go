package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/image"
)

// Clusters reaches the worker's deploy cluster and the kubeconfig's other
// contexts, for environments that name one.
type Clusters struct {
	// Cluster is the kubeconfig's current context (or, with --in-cluster,
	// the pod's own cluster); nil: no cluster configured.
	Cluster *environments.Cluster
	// Contexts reaches the kubeconfig's other contexts.
	Contexts *environments.Clusters
}

// get is the cluster of a kubeconfig context ("" the current one).
func (cs Clusters) get(context string) (*environments.Cluster, error) {
	if context == "" && cs.Cluster != nil {
		return cs.Cluster, nil
	}
	if cs.Contexts == nil {
		return nil, missing("production", needKubeconfig)
	}
	c, err := cs.Contexts.Context(context)
	if err != nil {
		return nil, notConfigured("%v", err)
	}
	return c, nil
}

// Trust checks that a digest carries this installation's signature for the
// run's commit before promote, deploy and production accept it.
type Trust struct {
	// Verifier is the signing key's public half; nil: images are neither
	// signed nor checked.
	Verifier *image.Verifier
}

// check refuses a digest that does not carry this installation's
// signature for the run's commit, or one of the attestations the
// environment requires (contract.Guard's), signed by it (not retried: no
// retry signs it). A registry that cannot be reached is retried.
func (t Trust) check(ctx context.Context, phase, repo, digest, commit string, required ...string) error {
	if t.Verifier == nil {
		return nil
	}
	_, err := t.Verifier.Verify(ctx, repo, digest, commit)
	if errors.Is(err, image.ErrUntrusted) {
		return fmt.Errorf("phase %s refuses %s@%s: %w", phase, repo, digest, err)
	}
	if err != nil {
		return err
	}
	for _, a := range required {
		err := t.Verifier.Attested(ctx, repo, digest, a)
		if errors.Is(err, image.ErrUntrusted) {
			return fmt.Errorf("phase %s refuses %s@%s: the environment requires the %s attestation (an integration suite that passed against this digest), which it lacks: %w", phase, repo, digest, a, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
