package environments

import (
	"fmt"
	"sync"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Clusters connects to the clusters of one kubeconfig by context name and
// keeps each connection (and its discovery cache) for reuse. An environment
// whose spec names a context ("context: prod-eu") is deployed there; the
// empty name is the kubeconfig's current context. Safe for concurrent use.
//
// With InCluster (and no Kubeconfig) the empty name is the cluster the
// worker's pod runs in, reached with its service account; there are no
// other contexts then.
type Clusters struct {
	Kubeconfig string
	InCluster  bool

	mu   sync.Mutex
	byID map[string]*Cluster
}

// Context returns the cluster of the named kubeconfig context.
func (cs *Clusters) Context(name string) (*Cluster, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.byID[name]; ok {
		return c, nil
	}
	rc, err := cs.config(name)
	if err != nil {
		return nil, err
	}
	c, err := NewCluster(rc)
	if err != nil {
		return nil, err
	}
	if cs.byID == nil {
		cs.byID = map[string]*Cluster{}
	}
	cs.byID[name] = c
	return c, nil
}

func (cs *Clusters) config(name string) (*rest.Config, error) {
	if cs.InCluster && cs.Kubeconfig == "" {
		if name != "" {
			return nil, fmt.Errorf("context %q: this worker deploys only into the cluster it runs in (--in-cluster); run a worker with a kubeconfig that has the context to deploy there", name)
		}
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("--in-cluster: %w (outside a pod, use --kubeconfig)", err)
		}
		return rc, nil
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: cs.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: name}).ClientConfig()
	if err != nil {
		if name != "" {
			return nil, fmt.Errorf("kubeconfig %s, context %q: %w (the environment's context must be one of the kubeconfig's contexts)", cs.Kubeconfig, name, err)
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", cs.Kubeconfig, err)
	}
	return rc, nil
}
