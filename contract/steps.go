package contract

import "time"

// Source says which commit of which repository a run builds.
type Source struct {
	CloneURL string `json:"clone_url"`
	Commit   string `json:"commit"`
	// Merge, for a merge request's run, is its target's commit, merged
	// into Commit wherever the tree is read: the run builds, tests and
	// deploys the merge result (gitsrc.CheckoutMerged).
	Merge string `json:"merge,omitempty"`
}

// StepsInput runs a phase's commands (build, test) in the run's workspace.
type StepsInput struct {
	PhaseProgress
	// RunID keys the workspace and the log of the run.
	RunID  string `json:"run_id"`
	Phase  string `json:"phase"`
	Source Source `json:"source"`
	// Pool is the warm build-pod pool the spec asks for; empty means the
	// worker's default executor.
	Pool string `json:"pool,omitempty"`
	// Workspace is the handle an earlier phase returned; zero means prepare
	// a new one from Source.
	Workspace Workspace         `json:"workspace,omitzero"`
	Commands  []string          `json:"commands"`
	Env       map[string]string `json:"env,omitempty"`
	// Secrets are given to the commands as environment variables.
	Secrets *Secrets `json:"secrets,omitempty"`
	// Project and PoolShare: the project's runs hold at most PoolShare of
	// Pool's pods at once (0: no share).
	Project   string `json:"project,omitempty"`
	PoolShare int    `json:"pool_share,omitempty"`
	// Cell, when set, makes this one cell of a phase's jobs
	// (pipelines.Cell.Key): a workspace and pod of its own, claimed as
	// <run>.<cell>, log lines prefixed with Job (the cell's name), and the
	// workspace released once the cell has an outcome.
	Cell string `json:"cell,omitempty"`
	Job  string `json:"job,omitempty"`
	// Services are started beside a job cell's workspace (its pod) before
	// the commands, which find them in <NAME>_HOST and <NAME>_PORT.
	Services []StepsService `json:"services,omitempty"`
	// Cache is the job's cache, restored before the commands and saved
	// after them (nil: none).
	Cache *StepsCache `json:"cache,omitempty"`
	// Timeout bounds each command.
	Timeout time.Duration `json:"timeout"`
	// JUnit is a report path, relative to the workspace, for the summary.
	JUnit string `json:"junit,omitempty"`
	// Artifacts are files the commands produce, pushed to ArtifactRepo
	// (the bake repository) once they succeed. A job cell's (Cell set)
	// go to the worker's registry, under Repo's name, and may be
	// directories.
	Artifacts    []string `json:"artifacts,omitempty"`
	ArtifactRepo string   `json:"artifact_repo,omitempty"`
	// Repo is the run's repository (owner/name): the name a job's
	// artifacts are kept under.
	Repo string `json:"repo,omitempty"`
	// Fetch are artifacts (repository@digest) of the jobs this cell
	// needs, unpacked into its workspace before the commands.
	Fetch []string `json:"fetch,omitempty"`
}

// StepsService is a dependency of a job (a database, a queue).
type StepsService struct {
	Name  string            `json:"name"`
	Image string            `json:"image"`
	Ports []int             `json:"ports,omitempty"`
	Env   map[string]string `json:"env,omitempty"`
}

// StepsCache is a job's cache: what keys it and what it holds. The
// worker keeps it in its registry, under a tag made of Job and a hash of
// Scope and the content of the Key files.
type StepsCache struct {
	// Repo is the run's repository, whose cache repository holds it.
	Repo string `json:"repo"`
	// Scope is the pipeline, the branch and the cell: no branch restores
	// what another saved.
	Scope string   `json:"scope"`
	Job   string   `json:"job"`
	Key   []string `json:"key"`
	Paths []string `json:"paths"`
}

// Cache outcomes (StepsResult.Cache).
const (
	CacheHit   = "hit"
	CacheMiss  = "miss"
	CacheSaved = "saved"
)

// StepResult is one command's outcome.
type StepResult struct {
	Command  string        `json:"command"`
	ExitCode int           `json:"exit_code"`
	Duration time.Duration `json:"duration"`
}

// StepsResult is a phase's outcome.
type StepsResult struct {
	Workspace Workspace    `json:"workspace"`
	Steps     []StepResult `json:"steps"`
	Summary   string       `json:"summary"`
	// Artifacts is the pushed artifact (repository@digest), if any.
	Artifacts string `json:"artifacts,omitempty"`
	// Cache is what became of the job's cache: CacheHit, CacheMiss (and
	// not saved) or CacheSaved; empty without one.
	Cache string `json:"cache,omitempty"`
}

// Secrets names the server's secrets a phase gets: names only. The worker
// reads the values inside the activity, after checking again that the
// project gives them to this phase of this branch; they never enter a
// workflow's history.
type Secrets struct {
	Project string   `json:"project,omitempty"`
	Branch  string   `json:"branch"`
	Phase   string   `json:"phase"`
	Names   []string `json:"names"`
}
