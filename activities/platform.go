package activities

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/analysis"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/environments"
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
	// Cluster is the Kubeconfig's cluster (or, in a pod with --in-cluster,
	// the pod's own), for deploy and integration.
	Cluster *environments.Cluster
	// Clusters reaches the Kubeconfig's other contexts, for environments
	// that name one.
	Clusters *environments.Clusters
	// Signer signs every baked digest with the commit it was built from;
	// Verifier (its public key) checks that signature before promote,
	// deploy and production accept a digest. Without them images are
	// neither signed nor checked.
	Signer   *image.Signer
	Verifier *image.Verifier
	// Logs receives the phases' progress.
	Logs *logstore.Store
	// NodePower stops and starts nodes for node-down and zone-down chaos
	// faults (nil: they are refused).
	NodePower chaos.NodePower
	// VulnDB is the directory of the OSV vulnerability database promote's
	// scan reads (empty: scans are refused).
	VulnDB string
	// Prometheus answers production.analysis's queries (nil: analyses are
	// refused).
	Prometheus *analysis.Prometheus
}

const (
	needBuildKit   = "a BuildKit address: set --buildkit-addr or SLUICE_BUILDKIT_ADDR"
	needRegistry   = "an image registry: set --registry or SLUICE_REGISTRY"
	needKubeconfig = "a Kubernetes cluster: set --kubeconfig or KUBECONFIG (or --in-cluster for a worker in a pod)"
)

// repository strips the tag from "registry/team/app:tag".
func repository(ref string) (string, error) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	if ref == "" {
		return "", invalid("no image to tag: the run has no bake output")
	}
	return ref, nil
}

// checkout puts the commit in a temporary directory on this worker; done
// removes it.
func checkout(ctx context.Context, src contract.Source) (string, func(), error) {
	tmp, err := os.MkdirTemp("", "sluice-src-")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.RemoveAll(tmp) }
	dir := filepath.Join(tmp, "src")
	if err := gitsrc.CheckoutMerged(ctx, src.CloneURL, src.Commit, src.Merge, dir); err != nil {
		done()
		return "", nil, err
	}
	// the worker reads this tree with its own rights (manifests, charts,
	// the build context): no committed link may lead out of it
	if err := gitsrc.CheckLinks(dir); err != nil {
		done()
		return "", nil, err
	}
	return dir, done, nil
}

func ttlOrDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return environments.DefaultTTL
	}
	return d
}

// releaseName names a Helm chart's release: the pipeline's name.
func releaseName(pipeline string) string {
	if pipeline == "" {
		return "sluice"
	}
	return strings.ToLower(pipeline)
}

// publicURL is a repository URL without any credentials in it, fit to be
// recorded in an image's provenance.
func publicURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}

// Images is the platform's image component (bake, promote).
func (p *Platform) Images() *Images {
	return &Images{BuildKitAddr: p.BuildKitAddr, Registry: p.Registry, VulnDB: p.VulnDB, Signer: p.Signer, Trust: p.trust(), Logs: p.Logs}
}

// Environments is the platform's test-environment component (deploy,
// integration).
func (p *Platform) Environments() *Environments {
	return &Environments{Clusters: p.clusters(), Trust: p.trust(), Signer: p.Signer, Logs: p.Logs}
}

// Releases is the platform's production component.
func (p *Platform) Releases() *Releases {
	return &Releases{Clusters: p.clusters(), Trust: p.trust(), Logs: p.Logs, Prometheus: p.Prometheus}
}

// Chaos is the platform's chaos component.
func (p *Platform) Chaos() *Chaos {
	return &Chaos{Cluster: p.Cluster, NodePower: p.NodePower, Logs: p.Logs}
}

func (p *Platform) trust() Trust { return Trust{Verifier: p.Verifier} }

func (p *Platform) clusters() Clusters { return Clusters{Cluster: p.Cluster, Contexts: p.Clusters} }
