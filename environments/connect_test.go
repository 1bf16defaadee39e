package environments

import (
	"strings"
	"testing"
)

// TestInCluster: a worker told to deploy into its own cluster says what to
// do when it is not in a pod, and refuses contexts it cannot have.
func TestInCluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	cs := &Clusters{InCluster: true}
	if _, err := cs.Context(""); err == nil || !strings.Contains(err.Error(), "outside a pod, use --kubeconfig") {
		t.Errorf("in-cluster outside a pod: %v", err)
	}
	if _, err := cs.Context("prod-eu"); err == nil || !strings.Contains(err.Error(), `context "prod-eu"`) || !strings.Contains(err.Error(), "kubeconfig") {
		t.Errorf("a named context in-cluster: %v", err)
	}
}
