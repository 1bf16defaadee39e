package environments

import (
	"fmt"
	"sync"

	"k8s.io/client-go/tools/clientcmd"
)

// Clusters connects to the clusters of one kubeconfig by context name and
// keeps each connection (and its discovery cache) for reuse. An environment
// whose spec names a context ("context: prod-eu") is deployed there; the
// empty name is the kubeconfig's current context. Safe for concurrent use.
type Clusters struct {
	Kubeconfig string

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
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: cs.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: name}).ClientConfig()
	if err != nil {
		if name != "" {
			return nil, fmt.Errorf("kubeconfig %s, context %q: %w (the environment's context must be one of the kubeconfig's contexts)", cs.Kubeconfig, name, err)
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", cs.Kubeconfig, err)
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
