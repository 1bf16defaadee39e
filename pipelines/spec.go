// Package pipelines defines the `.sluice.yml` pipeline spec: its types, the
// parser that reports every problem with file, line, column and a hint, the
// defaults, the validation rules and the JSON schema for editors.
//
// The spec is plain data: it is carried inside workflow inputs, so every type
// here serialises to JSON and holds no behaviour that touches the world.
package pipelines

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// FileName is where a repository keeps its pipeline spec.
const FileName = ".sluice.yml"

// Dir holds a repository's further pipelines, one spec per .yml file (a
// monorepo's services): .sluice/api.yml is pipeline "api", a run of its
// own beside the one of FileName.
const Dir = ".sluice"

var pipelineKey = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// PipelineOf is the pipeline a spec file defines: "" for FileName, the
// file's name without .yml for one in Dir. A name that is not a
// lower-case DNS label of up to 40 characters is an error.
func PipelineOf(file string) (string, error) {
	if file == FileName {
		return "", nil
	}
	name, ok := strings.CutSuffix(strings.TrimPrefix(file, Dir+"/"), ".yml")
	if !ok || !pipelineKey.MatchString(name) {
		return "", fmt.Errorf("%s: a pipeline's file is named like api.yml (lower-case letters, digits and -, at most 40)", file)
	}
	return name, nil
}

// SpecFile is where pipeline (PipelineOf) is defined.
func SpecFile(pipeline string) string {
	if pipeline == "" {
		return FileName
	}
	return Dir + "/" + pipeline + ".yml"
}

// Concurrency modes: what a new push to a branch does to the branch's running run.
const (
	CancelPrevious = "cancel-previous"
	Queue          = "queue"
)

// Production strategies.
const (
	Rolling   = "rolling"
	BlueGreen = "blue-green"
	Canary    = "canary"
)

// Spec is a parsed, defaulted and validated `.sluice.yml`. Every phase is
// optional; a nil phase is skipped.
type Spec struct {
	Version      int               `yaml:"version" json:"version" doc:"Spec format version. Must be 1."`
	Name         string            `yaml:"name" json:"name,omitempty" doc:"Pipeline name; defaults to the repository name."`
	On           Triggers          `yaml:"on" json:"on" doc:"Which pushes start a run."`
	Include      []Include         `yaml:"include" json:"include,omitempty" doc:"Spec fragments from other repositories at a tag or commit, merged in order beneath this file: their keys are defaults this file overrides."`
	Templates    map[string]*Job   `yaml:"templates" json:"templates,omitempty" doc:"Job fragments test's jobs take with extends (here or from an included fragment): merged beneath the job, its own keys last. A template never runs by itself."`
	Input        map[string]Input  `yaml:"inputs" json:"inputs,omitempty" doc:"Values a manual run takes (sluice run --input name=value), typed and checked before it starts; steps read them as SLUICE_INPUT_<NAME>."`
	Concurrency  string            `yaml:"concurrency" json:"concurrency,omitempty" doc:"What a new push does to the branch's running run: cancel-previous (default) or queue." enum:"cancel-previous,queue"`
	Environments Environments      `yaml:"environments" json:"environments" doc:"Where deploy and production put the application."`
	Build        *BuildPhase       `yaml:"build" json:"build,omitempty" doc:"Phase 1: clone the commit and run build commands."`
	Test         *TestPhase        `yaml:"test" json:"test,omitempty" doc:"Phase 2: run unit tests in the build workspace."`
	Bake         *BakePhase        `yaml:"bake" json:"bake,omitempty" doc:"Phase 3: build the container image with BuildKit and push it."`
	Deploy       *DeployPhase      `yaml:"deploy" json:"deploy,omitempty" doc:"Phase 4: deploy the image to the test environment."`
	Integration  *IntegrationPhase `yaml:"integration" json:"integration,omitempty" doc:"Phase 5: run the integration suite against the deployment."`
	Chaos        *ChaosPhase       `yaml:"chaos" json:"chaos,omitempty" doc:"Run chaos experiments against the test environment after integration: faults injected, the SLO checked, the faults always removed."`
	Promote      *PromotePhase     `yaml:"promote" json:"promote,omitempty" doc:"Phase 6: mark the image available (tag the digest)."`
	Approval     *ApprovalPhase    `yaml:"approval" json:"approval,omitempty" doc:"Phase 7: wait for people to approve the release."`
	Production   *ProductionPhase  `yaml:"production" json:"production,omitempty" doc:"Phase 8: release to production."`
}

// Triggers select the pushes that start a run.
type Triggers struct {
	Branches []string `yaml:"branches" json:"branches,omitempty" doc:"Branch names or glob patterns (release/*). Empty means every branch."`
	Tags     []string `yaml:"tags" json:"tags,omitempty" doc:"Tag names or glob patterns (v*) whose push starts a run (a release); empty: tag pushes start none. The tag's run is known as refs/tags/<tag> where a branch would be: the server's policy reaches production from it only when production.branches names it (refs/tags/v*)."`
	Events   []string `yaml:"events" json:"events,omitempty" doc:"Events that start runs: push, tag, merge-request; empty: all three. A manual run (sluice run) always starts."`
	Paths    []string `yaml:"paths" json:"paths,omitempty" doc:"A push starts a run only when it changes a file matching one of these globs (services/api/**): one pipeline of a monorepo. Where the change is not known (a tag, a manual run) it starts."`
}

// Environments names the places a pipeline deploys to.
type Environments struct {
	Test       *TestEnvironment `yaml:"test" json:"test,omitempty" doc:"The ephemeral per-run environment deploy uses."`
	Staging    *Environment     `yaml:"staging" json:"staging,omitempty" doc:"A long-lived staging environment deploy may target instead."`
	Production *Environment     `yaml:"production" json:"production,omitempty" doc:"Where the production phase releases."`
}

// TestEnvironment is a namespace created for one run and deleted when the run ends.
type TestEnvironment struct {
	Services []Service `yaml:"services" json:"services,omitempty" doc:"Dependencies started next to the application (databases, queues)."`
	Quota    Quota     `yaml:"quota" json:"quota" doc:"Resource quota of the namespace."`
	TTL      Duration  `yaml:"ttl" json:"ttl,omitempty" doc:"The environment is swept after this long even if the run is lost."`
}

// Service is a dependency container in the test environment.
type Service struct {
	Name  string            `yaml:"name" json:"name" doc:"DNS name of the service inside the namespace." required:"true"`
	Image string            `yaml:"image" json:"image" doc:"Image reference." required:"true"`
	Ports []int             `yaml:"ports" json:"ports,omitempty" doc:"TCP ports the service listens on."`
	Env   map[string]string `yaml:"env" json:"env,omitempty" doc:"Environment variables."`
}

// Quota limits a test environment.
type Quota struct {
	CPU    string `yaml:"cpu" json:"cpu,omitempty" doc:"CPU limit for the namespace, Kubernetes quantity (2, 500m)."`
	Memory string `yaml:"memory" json:"memory,omitempty" doc:"Memory limit for the namespace, Kubernetes quantity (2Gi)."`
}

// Environment is a long-lived deployment target.
type Environment struct {
	Namespace string `yaml:"namespace" json:"namespace" doc:"Kubernetes namespace." required:"true"`
	Context   string `yaml:"context" json:"context,omitempty" doc:"kubeconfig context; empty means the current one."`
	Strategy  string `yaml:"strategy" json:"strategy,omitempty" doc:"Release strategy: rolling (default), blue-green or (production only) canary." enum:"rolling,blue-green,canary"`
	Registry  string `yaml:"registry" json:"registry,omitempty" doc:"Production only: the registry (host[:port][/prefix]) promote replicates the tested, signed image to, with its signature and provenance; production pulls it from there."`
}

// BuildPhase compiles the commit.
type BuildPhase struct {
	Pool      string            `yaml:"pool" json:"pool,omitempty" doc:"Warm build pod pool to claim a pod from."`
	Image     string            `yaml:"image" json:"image,omitempty" doc:"Not acted on: the pool (the server's pools[].image) decides the build pod's image; sluice lint warns."`
	Commands  []string          `yaml:"commands" json:"commands,omitempty" doc:"Shell commands run in order in the workspace; the first failure fails the phase. Write these or jobs."`
	Cache     []string          `yaml:"cache" json:"cache,omitempty" doc:"Not acted on: a pool's cache volume (the server's pools[].cache) keeps directories between claims; sluice lint warns."`
	Artifacts []string          `yaml:"artifacts" json:"artifacts,omitempty" doc:"Files the build produces (paths in the workspace) that bake's Dockerfile may COPY: pushed next to the image as an OCI artifact and put into bake's context at the same paths. With jobs, each job names its own."`
	Jobs      Jobs              `yaml:"jobs" json:"jobs,omitempty" doc:"Named jobs run side by side, each in a checkout (and pool pod) of its own, instead of commands; their artifacts go to test (every checkout of it) and to bake. Test then runs in a checkout of its own."`
	FailFast  *bool             `yaml:"fail-fast" json:"fail-fast,omitempty" doc:"Jobs only: when a cell fails, cancel the cells still running and start no more (default true)."`
	Env       map[string]string `yaml:"env" json:"env,omitempty" doc:"Environment variables for the commands."`
	Secrets   []string          `yaml:"secrets" json:"secrets,omitempty" doc:"Names of the project's secrets (defined by the server, never in the repository) the build's commands gets, each in the environment variable of its upper-case name (npm_token: NPM_TOKEN). A name the project does not give this phase, or a protected one on a branch production does not protect, refuses the push."`
	Timeout   Duration          `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for the phase."`
	When      *Rule             `yaml:"when" json:"when,omitempty" doc:"Run the phase only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every phase that needs it."`
}

// TestPhase runs unit tests in the build workspace.
type TestPhase struct {
	Commands []string          `yaml:"commands" json:"commands,omitempty" doc:"Test commands, run in order in the build workspace. Write these or jobs."`
	Jobs     Jobs              `yaml:"jobs" json:"jobs,omitempty" doc:"Named jobs run side by side, each in a checkout (and pool pod) of its own, in the order their needs allow; instead of commands. A retry runs only the cells that did not pass. The build's jobs' artifacts are unpacked into every checkout of test."`
	FailFast *bool             `yaml:"fail-fast" json:"fail-fast,omitempty" doc:"Jobs only: when a cell fails, cancel the cells still running and start no more (default true); false lets every runnable cell finish."`
	JUnit    string            `yaml:"junit" json:"junit,omitempty" doc:"Path of a JUnit XML report the commands write, for the summary."`
	Env      map[string]string `yaml:"env" json:"env,omitempty" doc:"Environment variables for the commands."`
	Secrets  []string          `yaml:"secrets" json:"secrets,omitempty" doc:"Names of the project's secrets (defined by the server, never in the repository) the test's commands gets, each in the environment variable of its upper-case name (npm_token: NPM_TOKEN). A name the project does not give this phase, or a protected one on a branch production does not protect, refuses the push."`
	Timeout  Duration          `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for the phase."`
	When     *Rule             `yaml:"when" json:"when,omitempty" doc:"Run the phase only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every phase that needs it."`
}

// BakePhase builds and pushes the image.
type BakePhase struct {
	Image      string            `yaml:"image" json:"image" doc:"Repository to push to, without tag (registry.example.com/team/app)." required:"true"`
	Dockerfile string            `yaml:"dockerfile" json:"dockerfile,omitempty" doc:"Dockerfile path relative to the context."`
	Context    string            `yaml:"context" json:"context,omitempty" doc:"Build context directory, relative to the repository root."`
	BuildArgs  map[string]string `yaml:"build-args" json:"build-args,omitempty" doc:"Dockerfile ARG values."`
	Timeout    Duration          `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for the phase."`
	When       *Rule             `yaml:"when" json:"when,omitempty" doc:"Run the phase only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every phase that needs it."`
}

// DeployPhase deploys the baked image.
type DeployPhase struct {
	Environment string   `yaml:"environment" json:"environment,omitempty" doc:"test (ephemeral, default) or staging." enum:"test,staging"`
	Manifests   string   `yaml:"manifests" json:"manifests" doc:"Directory of Kubernetes manifests, relative to the repository root." required:"true"`
	Secrets     []string `yaml:"secrets" json:"secrets,omitempty" doc:"Names of the project's secrets (defined by the server, never in the repository) the application gets in its environment: a Secret sluice-secrets made in the test environment (or, in staging, one per release), each under the key of its upper-case name (db_password: DB_PASSWORD), which the manifests name in secretKeyRef, envFrom or a secret volume. A name the project does not give this phase, or a protected one on a branch production does not protect, refuses the push."`
	Timeout     Duration `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for the phase, rollout included."`
	When        *Rule    `yaml:"when" json:"when,omitempty" doc:"Run the phase only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every phase that needs it."`
}

// IntegrationPhase runs a suite as a Job next to the deployment.
type IntegrationPhase struct {
	Image    string            `yaml:"image" json:"image" doc:"Image of the integration job." required:"true"`
	Commands []string          `yaml:"commands" json:"commands" doc:"Commands the job runs." required:"true"`
	Env      map[string]string `yaml:"env" json:"env,omitempty" doc:"Environment variables for the job."`
	Secrets  []string          `yaml:"secrets" json:"secrets,omitempty" doc:"Names of the project's secrets (defined by the server, never in the repository) the integration Job (through a Secret made in the test environment) gets, each in the environment variable of its upper-case name (npm_token: NPM_TOKEN). A name the project does not give this phase, or a protected one on a branch production does not protect, refuses the push."`
	JUnit    string            `yaml:"junit" json:"junit,omitempty" doc:"Path (in the job's working directory) of a JUnit XML report the commands write, summarised in the run."`
	Timeout  Duration          `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for the phase."`
	When     *Rule             `yaml:"when" json:"when,omitempty" doc:"Run the phase only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every phase that needs it."`
}

// ChaosPhase runs chaos experiments against the test environment.
type ChaosPhase struct {
	Experiments []string `yaml:"experiments" json:"experiments" doc:"Experiment files in the repository (see sluice chaos lint), run in order against the test environment: their target.namespace is replaced by it." required:"true"`
	Timeout     Duration `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for the phase."`
	When        *Rule    `yaml:"when" json:"when,omitempty" doc:"Run the phase only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every phase that needs it."`
}

// PromotePhase marks the image available.
type PromotePhase struct {
	Tag     string    `yaml:"tag" json:"tag,omitempty" doc:"Tag added to the tested digest; ${SLUICE_TAG} in it is the pushed tag of a tag's run (a release tagged as its Git tag)."`
	Scan    *ScanGate `yaml:"scan" json:"scan,omitempty" doc:"Vulnerability gate: the image's signed SBOM is matched against the worker's vulnerability database (OSV) before the tag is added; findings above max-severity refuse the image."`
	Timeout Duration  `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for the phase."`
	When    *Rule     `yaml:"when" json:"when,omitempty" doc:"Run the phase only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every phase that needs it."`
}

// Severities are the ratings promote.scan.max-severity takes, mildest first.
var Severities = []string{"none", "low", "medium", "high", "critical"}

// ScanGate is promote's vulnerability policy.
type ScanGate struct {
	MaxSeverity string   `yaml:"max-severity" json:"max-severity,omitempty" doc:"The worst severity that passes: none, low, medium (default), high or critical. A vulnerability without a severity counts as worse than critical."`
	Allow       []string `yaml:"allow" json:"allow,omitempty" doc:"Vulnerability IDs or aliases (GO-2024-1234, CVE-2024-1234) accepted whatever their severity."`
}

// ApprovalPhase waits for people.
type ApprovalPhase struct {
	Approvers    Approvers `yaml:"approvers" json:"approvers" doc:"Who may approve." required:"true"`
	Required     int       `yaml:"required" json:"required,omitempty" doc:"Distinct approvals needed."`
	Timeout      Duration  `yaml:"timeout" json:"timeout,omitempty" doc:"The run fails as timed_out when nobody decides within this."`
	Reminder     Duration  `yaml:"reminder" json:"reminder,omitempty" doc:"Interval between reminders while waiting."`
	MaxReminders int       `yaml:"max-reminders" json:"max-reminders,omitempty" doc:"Upper bound on reminders, so long waits stay small."`
	Channel      string    `yaml:"channel" json:"channel,omitempty" doc:"Chat channel for the approval message."`
	KeepOnRetry  bool      `yaml:"keep-on-retry" json:"keep-on-retry,omitempty" doc:"A retry that resumes after approval reuses the earlier approval instead of asking again."`
	When         *Rule     `yaml:"when" json:"when,omitempty" doc:"Run the phase only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every phase that needs it."`
}

// Approvers lists people and groups; groups are resolved by the server configuration.
type Approvers struct {
	Users  []string `yaml:"users" json:"users,omitempty" doc:"User ids (as the approver identifies: CLI --as or chat user id)."`
	Groups []string `yaml:"groups" json:"groups,omitempty" doc:"Group names defined in the server configuration."`
}

// ProductionPhase releases to production.
type ProductionPhase struct {
	Manifests string       `yaml:"manifests" json:"manifests" doc:"Directory of production manifests, relative to the repository root." required:"true"`
	Verify    *Verify      `yaml:"verify" json:"verify,omitempty" doc:"Checks after the release; a failure rolls back."`
	Secrets   []string     `yaml:"secrets" json:"secrets,omitempty" doc:"Names of the project's secrets (defined by the server, never in the repository) production gets: the application in a Secret of the release (its manifests name sluice-secrets, which each release points at its own), each under the key of its upper-case name (db_password: DB_PASSWORD), and the verify Job (through a Secret made beside it, deleted with it) in the environment variable of that name. A name the project does not give this phase, or a protected one on a branch production does not protect, refuses the push."`
	Grace     Duration     `yaml:"grace" json:"grace,omitempty" doc:"Blue-green: how long the old color stays scaled after the switch, for instant failover, before it scales to zero (at least as long as the analysis takes)."`
	Canary    *CanarySteps `yaml:"canary" json:"canary,omitempty" doc:"Canary (environments.production.strategy: canary): the steps the new version goes through beside the stable one before it replaces it."`
	Analysis  *Analysis    `yaml:"analysis" json:"analysis,omitempty" doc:"Metrics that judge the release once it has the traffic (blue-green: while the old color waits for failover): a failed analysis puts the previous release back at once, an inconclusive one waits for the approvers."`
	Timeout   Duration     `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for the phase."`
	When      *Rule        `yaml:"when" json:"when,omitempty" doc:"Run the phase only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every phase that needs it."`
}

// Verify is a post-release check.
type Verify struct {
	Image    string   `yaml:"image" json:"image,omitempty" doc:"Image of the verify job; defaults to integration.image."`
	Commands []string `yaml:"commands" json:"commands" doc:"Commands that must succeed, run in order as a Job in the production namespace. <SERVICE>_URL (hello -> HELLO_URL) is the address of each Service of the release: for blue-green, the new color's preview." required:"true"`
	Timeout  Duration `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for the checks."`
}

// MatchBranch reports whether branch matches one of the glob patterns
// (path.Match syntax, as in `on.branches`). No patterns match every branch.
func MatchBranch(patterns []string, branch string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, branch); ok {
			return true
		}
	}
	return false
}
