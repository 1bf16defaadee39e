package contract

import (
	"regexp"
	"strings"
)

// Pod Security levels, as Kubernetes' Pod Security Standards name them,
// strictest first.
const (
	PodRestricted = "restricted"
	PodBaseline   = "baseline"
	PodPrivileged = "privileged"
)

// Guard is what an environment's manifests may ask for, decided by the
// server's policy (the spec cannot loosen it). Every apply checks every
// object against it before anything is applied. The zero Guard is the
// default of a server without projects: the baseline Pod Security level,
// no ClusterRole granted by a RoleBinding, no service account token
// mounted, any registry, any namespace but the cluster's own.
type Guard struct {
	// Namespaces the environment may be in; empty: any but the cluster's
	// own (kube-system and the other kube-* namespaces are never allowed).
	Namespaces []string `json:"namespaces,omitempty"`
	// PodSecurity is the most a pod may ask for: restricted, baseline
	// (when empty) or privileged.
	PodSecurity string `json:"pod_security,omitempty"`
	// ClusterRoles are the ClusterRoles a RoleBinding may grant in the
	// environment's namespace.
	ClusterRoles []string `json:"cluster_roles,omitempty"`
	// ServiceAccountTokens lets pods mount a service account token. Without
	// it, a pod that does not say is given automountServiceAccountToken:
	// false, and one that asks for a token is refused.
	ServiceAccountTokens bool `json:"service_account_tokens,omitempty"`
	// Registries are the registries (host[:port][/path]) images may come
	// from; empty: any.
	Registries []string `json:"registries,omitempty"`
	// PinnedImages: every container image names its digest (the baked
	// one does: deploy sets it).
	PinnedImages bool `json:"pinned_images,omitempty"`
	// Attestations are what the digest must carry, signed by this
	// installation, to run in the environment (AttestationTestResult).
	Attestations []string `json:"attestations,omitempty"`
}

// AttestationTestResult is the attestation a digest gets when its
// integration suite passed against it.
const AttestationTestResult = "test-result"

// pinnedImage is an image reference that ends in a sha256 digest.
var pinnedImage = regexp.MustCompile(`@sha256:[a-f0-9]{64}$`)

// Pinned tells whether image names its content by digest.
func Pinned(image string) bool { return pinnedImage.MatchString(image) }

// Level is the guard's Pod Security level.
func (g Guard) Level() string {
	if g.PodSecurity == "" {
		return PodBaseline
	}
	return g.PodSecurity
}

// Governance is what the server's policy decided for a request: the
// project, the phases withheld from it and the guard of each environment.
type Governance struct {
	// Project is the policy's project of the repository; empty: the server
	// has no projects and its defaults apply.
	Project string `json:"project,omitempty"`
	// Withheld are the phases the request may not run, in pipeline order.
	Withheld []Withheld `json:"withheld,omitempty"`
	Test     Guard      `json:"test"`
	Staging  Guard      `json:"staging"`
	// Production guards the production release and its rollbacks.
	Production Guard `json:"production"`
	// Quota is what the project's runs may hold at once; nil: no limit.
	Quota *Quota `json:"quota,omitempty"`
	// Freeze is when the production release may happen; nil: any time.
	Freeze *Freeze `json:"freeze,omitempty"`
}

// Withheld is a phase of the spec a request does not run, and why.
type Withheld struct {
	Phase  string `json:"phase"`
	Reason string `json:"reason"`
}

// FromRegistry tells whether image comes from one of registries: its
// reference starts with the registry followed by a slash.
func FromRegistry(image string, registries []string) bool {
	for _, r := range registries {
		if strings.HasPrefix(image, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}
