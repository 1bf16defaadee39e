package contract

import (
	"strings"
	"time"

	"github.com/sluice-cd/sluice/pipelines"
)

// BakeInput builds the commit's image and pushes it to Image.
type BakeInput struct {
	PhaseProgress
	RunID     string    `json:"run_id"`
	Source    Source    `json:"source"`
	Workspace Workspace `json:"workspace,omitzero"`
	// Image is the repository to push to, without tag.
	Image      string            `json:"image"`
	Dockerfile string            `json:"dockerfile,omitempty"`
	Context    string            `json:"context,omitempty"`
	BuildArgs  map[string]string `json:"build_args,omitempty"`
	// Artifacts (repository@digest) are the build's files, unpacked into
	// the checkout before the build.
	Artifacts string `json:"artifacts,omitempty"`
	// JobArtifacts (repository@digest) are test's jobs' artifacts,
	// unpacked into the context after the build's.
	JobArtifacts []string `json:"job_artifacts,omitempty"`
}

// BakeResult names the pushed image.
type BakeResult struct {
	// Image is the repository and tag; Digest its content digest.
	Image  string `json:"image"`
	Digest string `json:"digest"`
}

// DeployInput deploys an image by digest to an environment.
type DeployInput struct {
	PhaseProgress
	RunID  string `json:"run_id"`
	Source Source `json:"source"`
	Image  string `json:"image"`
	Digest string `json:"digest"`
	// Namespace is the environment's namespace.
	Namespace string `json:"namespace"`
	// Ephemeral marks a per-run test environment the deploy creates.
	Ephemeral bool `json:"ephemeral,omitempty"`
	// Manifests is the manifest directory relative to the repository root.
	Manifests string `json:"manifests"`
	// For an ephemeral environment: what the namespace is labelled and
	// annotated with (the sweeper asks Temporal whether WorkflowID's run
	// is still going once TTL has passed), and its quota.
	Pipeline   string        `json:"pipeline,omitempty"`
	WorkflowID string        `json:"workflow_id,omitempty"`
	TTL        time.Duration `json:"ttl,omitempty"`
	CPU        string        `json:"cpu,omitempty"`
	Memory     string        `json:"memory,omitempty"`
	// Services are started in the environment before the application.
	Services []pipelines.Service `json:"services,omitempty"`
	// Secrets reach the application through the Secret sluice-secrets
	// made in the test environment (in staging, a Secret of the release).
	Secrets *Secrets `json:"secrets,omitempty"`
	// Guard is what the environment's manifests may ask for (the policy's
	// test or staging guard).
	Guard Guard `json:"guard"`
	// For a long-lived environment (staging), with Pipeline set: the
	// kubeconfig context and the release strategy; the deploy is recorded
	// as a release there and undone by UndoRelease.
	Context  string `json:"context,omitempty"`
	Strategy string `json:"strategy,omitempty"`
}

// DeployResult is what a deploy left running.
type DeployResult struct {
	Namespace string `json:"namespace"`
}

// IntegrationInput runs the suite as a job next to the deployment.
type IntegrationInput struct {
	PhaseProgress
	RunID     string            `json:"run_id"`
	Namespace string            `json:"namespace"`
	Image     string            `json:"image"`
	Commands  []string          `json:"commands"`
	Env       map[string]string `json:"env,omitempty"`
	// Secrets reach the Job through a Secret made in the namespace.
	Secrets *Secrets `json:"secrets,omitempty"`
	// JUnit is the path of the report the commands write, if any.
	JUnit string `json:"junit,omitempty"`
	// Subject is the baked image (repository and digest) the suite ran
	// against, and Commit the commit it was built from: a suite that
	// passes attests a test result for it.
	Subject string `json:"subject,omitempty"`
	Digest  string `json:"digest,omitempty"`
	Commit  string `json:"commit,omitempty"`
}

// IntegrationResult summarises the job.
type IntegrationResult struct {
	Summary string `json:"summary"`
}

// PromoteInput marks a tested digest available.
type PromoteInput struct {
	PhaseProgress
	RunID string `json:"run_id"`
	// Commit is the commit the digest must be signed for.
	Commit string `json:"commit,omitempty"`
	Image  string `json:"image"`
	Digest string `json:"digest"`
	Tag    string `json:"tag"`
	// Replica, when set, is the production registry's repository the
	// digest is replicated to (with its signature and attestations).
	Replica string `json:"replica,omitempty"`
	// Scan, when set, is the vulnerability policy the image's SBOM must
	// pass before the tag is added.
	Scan *ScanPolicy `json:"scan,omitempty"`
}

// ScanPolicy is promote's vulnerability gate (pipelines.ScanGate).
type ScanPolicy struct {
	MaxSeverity string   `json:"max_severity"`
	Allow       []string `json:"allow,omitempty"`
}

// PromoteResult names the tag added.
type PromoteResult struct {
	Tag string `json:"tag"`
	// Replica is the repository the digest was replicated to.
	Replica string `json:"replica,omitempty"`
}

// ProductionInput releases a digest to production.
type ProductionInput struct {
	PhaseProgress
	RunID string `json:"run_id"`
	// Replica, when set, is the repository production pulls the digest
	// from (promote replicated it there); Image names the baked one.
	Replica   string `json:"replica,omitempty"`
	Source    Source `json:"source"`
	Image     string `json:"image"`
	Digest    string `json:"digest"`
	Manifests string `json:"manifests"`
	Namespace string `json:"namespace"`
	// Context is the kubeconfig context; empty means the current one.
	Context  string `json:"context,omitempty"`
	Strategy string `json:"strategy,omitempty"`
	// CanaryWeight is the share of pods (percent) a canary starts with.
	CanaryWeight int `json:"canary_weight,omitempty"`
	// Verify are the commands that must pass after the release.
	Verify []string `json:"verify,omitempty"`
	// Pipeline names the releases (sluice-release-<pipeline>-v<N>).
	Pipeline string `json:"pipeline,omitempty"`
	// ApprovedBy are the approvers, recorded with the release.
	ApprovedBy []string `json:"approved_by,omitempty"`
	// VerifyImage runs the Verify commands, within VerifyTimeout.
	VerifyImage   string        `json:"verify_image,omitempty"`
	VerifyTimeout time.Duration `json:"verify_timeout,omitempty"`
	// VerifySecrets are production's secrets: the application's, in a
	// Secret of the release, and the verify Job's, in a Secret made beside
	// it.
	VerifySecrets *Secrets `json:"verify_secrets,omitempty"`
	// Guard is what the production manifests may ask for.
	Guard Guard `json:"guard"`
}

// CanaryInput moves a run's canary to Weight percent of the pods.
type CanaryInput struct {
	ReleaseRef
	Weight int `json:"weight"`
}

// ProductionResult names the released revision.
type ProductionResult struct {
	// Canary: the release runs as a canary beside the stable one and
	// waits for its steps and PromoteCanary.
	Canary bool `json:"canary,omitempty"`
	// Revision is the release's number, as text.
	Revision string `json:"revision"`
	// Previous is the release that was live before (0: none); Color the
	// blue-green color now live.
	Previous int    `json:"previous,omitempty"`
	Color    string `json:"color,omitempty"`
}

// ReleaseRef names a run's production release, for its undo and for
// retiring the color it replaced.
type ReleaseRef struct {
	RunID     string `json:"run_id"`
	Pipeline  string `json:"pipeline"`
	Namespace string `json:"namespace"`
	Context   string `json:"context,omitempty"`
	// Guard is the environment's guard, which an undo is held to as well.
	Guard Guard `json:"guard"`
	// Reason, when set, is why the release is undone, recorded with it
	// (an analysis that failed, say).
	Reason string `json:"reason,omitempty"`
}

// EnvironmentRef names a run's ephemeral environment to delete.
type EnvironmentRef struct {
	RunID     string `json:"run_id"`
	Namespace string `json:"namespace"`
}

// TagRef names a tag on a digest to remove (in the replica too).
type TagRef struct {
	Replica string `json:"replica,omitempty"`
	RunID   string `json:"run_id"`
	Image   string `json:"image"`
	Digest  string `json:"digest"`
	Tag     string `json:"tag"`
}

// ReplicaRepository is where a repository is replicated in another
// registry: "127.0.0.1:5000/team/app" with registry "harbor.prod/mirror"
// is "harbor.prod/mirror/team/app". Empty registry: no replica.
func ReplicaRepository(registry, repository string) string {
	if registry == "" {
		return ""
	}
	if i := strings.LastIndex(repository, ":"); i > strings.LastIndex(repository, "/") {
		repository = repository[:i] // a tag
	}
	_, path, ok := strings.Cut(repository, "/")
	if !ok {
		path = repository
	}
	return strings.TrimSuffix(registry, "/") + "/" + path
}
