package deploy

import (
	"errors"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client-side request limits of every Kubernetes client Sluice makes.
// client-go's defaults (5 requests/s, bursts of 10) space a claimed pod's
// lease renewal, exec and status reads 200 ms apart once a phase has made
// its first ten requests; a rollout wait, a release and a pool phase all
// make bursts of small requests. The API server's own priority and
// fairness still protects it.
const (
	ClientQPS   = 50
	ClientBurst = 100
)

// WithClientLimits returns a copy of cfg with Sluice's request limits where
// cfg leaves client-go's defaults (zero); limits cfg sets are kept.
func WithClientLimits(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS = ClientQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = ClientBurst
	}
	return cfg
}

// Config reads the connection to a cluster: the kubeconfig's context (""
// is its current one) or, with an empty kubeconfig and inCluster, the
// service account of the pod this process runs in. The result carries
// Sluice's client limits.
func Config(kubeconfig, context string, inCluster bool) (*rest.Config, error) {
	if kubeconfig == "" {
		if context != "" {
			return nil, fmt.Errorf("context %q: this worker deploys only into the cluster it runs in (--in-cluster); run a worker with a kubeconfig that has the context to deploy there", context)
		}
		rc, err := rest.InClusterConfig()
		if err != nil {
			if inCluster {
				return nil, fmt.Errorf("--in-cluster: %w (outside a pod, use --kubeconfig)", err)
			}
			return nil, errors.New("need a cluster: pass --kubeconfig (or set KUBECONFIG), or run in a pod with a service account")
		}
		return WithClientLimits(rc), nil
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		if context != "" {
			return nil, fmt.Errorf("kubeconfig %s, context %q: %w (the environment's context must be one of the kubeconfig's contexts)", kubeconfig, context, err)
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return WithClientLimits(rc), nil
}
