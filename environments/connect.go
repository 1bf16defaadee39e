package environments

import (
	"sync"

	"k8s.io/client-go/rest"

	"github.com/sluice-cd/sluice/deploy"
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
	return deploy.Config(cs.Kubeconfig, name, cs.InCluster)
}
