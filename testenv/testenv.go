// Package testenv finds the local platform (Kubernetes, BuildKit, registry)
// that `make platform-up` runs, for tests. A user with their own cluster
// points KUBECONFIG, SLUICE_BUILDKIT_ADDR and SLUICE_REGISTRY at it.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultState is where platform-up keeps its state.
const DefaultState = "/var/lib/sluice-platform"

// Platform says where the platform's components answer.
type Platform struct {
	Kubeconfig   string
	BuildKitAddr string
	Registry     string
	// ProdRegistry plays the production registry promote replicates to.
	ProdRegistry string
	// PodGateway is this machine's address on the pod network: a server a
	// pod must reach (Temporal, a Git server) listens there.
	PodGateway string
	// GatewayNode is the node on whose bridge PodGateway is: it exists once
	// a pod runs there (the other node's pods reach it only then).
	GatewayNode string
	// PrometheusURL is the platform's Prometheus, which scrapes every pod
	// annotated prometheus.io/scrape: "true" every 5 s.
	PrometheusURL string
}

// Find reads the platform from the environment (the lines `make -s
// platform-env` prints), falling back to the default state directory.
func Find() (*Platform, error) {
	state := os.Getenv("SLUICE_PLATFORM_STATE")
	if state == "" {
		state = DefaultState
	}
	p := &Platform{
		Kubeconfig:    os.Getenv("KUBECONFIG"),
		BuildKitAddr:  os.Getenv("SLUICE_BUILDKIT_ADDR"),
		Registry:      os.Getenv("SLUICE_REGISTRY"),
		ProdRegistry:  os.Getenv("SLUICE_PROD_REGISTRY"),
		PodGateway:    os.Getenv("SLUICE_POD_GATEWAY"),
		PrometheusURL: os.Getenv("SLUICE_PROMETHEUS_URL"),
	}
	if p.PrometheusURL == "" {
		p.PrometheusURL = "http://127.0.0.1:19090"
	}
	if p.PodGateway == "" {
		p.PodGateway = "10.244.0.1"
	}
	if p.GatewayNode = os.Getenv("SLUICE_POD_GATEWAY_NODE"); p.GatewayNode == "" {
		p.GatewayNode, _ = os.Hostname()
	}
	if p.Kubeconfig == "" {
		p.Kubeconfig = filepath.Join(state, "admin.kubeconfig")
	}
	if p.BuildKitAddr == "" {
		p.BuildKitAddr = "unix://" + filepath.Join(state, "run", "buildkitd.sock")
	}
	if p.Registry == "" {
		p.Registry = "127.0.0.1:5000"
	}
	if p.ProdRegistry == "" {
		p.ProdRegistry = "127.0.0.1:5001"
	}
	var missing []string
	if _, err := os.Stat(p.Kubeconfig); err != nil {
		missing = append(missing, "kubeconfig "+p.Kubeconfig)
	}
	if sock, ok := strings.CutPrefix(p.BuildKitAddr, "unix://"); ok {
		if _, err := os.Stat(sock); err != nil {
			missing = append(missing, "BuildKit socket "+sock)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("local platform not found (%s): run `make platform-up`, or point KUBECONFIG, SLUICE_BUILDKIT_ADDR and SLUICE_REGISTRY at yours", strings.Join(missing, ", "))
	}
	return p, nil
}

// Connect returns the REST configuration of the platform's cluster and a
// clientset on it, or ends the test.
func (p *Platform) Connect(tb testing.TB) (*rest.Config, *kubernetes.Clientset) {
	tb.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		tb.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return rc, cs
}

// Require returns the platform, or ends the test: under CI a missing
// platform fails it (CI must never pass by skipping); elsewhere it skips.
// With -short (make unit) it skips: those tests run in make test.
func Require(tb testing.TB) *Platform {
	tb.Helper()
	if testing.Short() {
		tb.Skip("-short: tests on the platform run in make test")
	}
	p, err := Find()
	if err == nil {
		return p
	}
	if InCI() {
		tb.Fatal(err)
	}
	tb.Skip(err)
	return nil
}

// InCI reports whether the CI variable is set to anything but a false
// value: CI=true, CI=1 and CI=yes all count.
func InCI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// NodePower is the platform's way to stop and start a node (its
// testenv/platform/node.sh), as a worker's chaos.node_power commands.
func (p *Platform) NodePower() (stop, start []string) {
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "platform", "node.sh")
	return []string{"bash", script, "stop"}, []string{"bash", script, "start"}
}
