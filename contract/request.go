package contract

import (
	"time"

	"github.com/sluice-cd/sluice/pipelines"
)

// Push is one Git push that asks for a run.
type Push struct {
	// Repo is the repository's name as Sluice knows it, like "acme/hello".
	Repo string `json:"repo"`
	// CloneURL is a local path, file://, or http(s) URL the worker can clone.
	CloneURL string `json:"clone_url"`
	// Branch is the branch pushed; a tag's run has its tag's
	// pipelines.TagRef ("refs/tags/v1") here, which no branch has.
	Branch string `json:"branch"`
	Commit string `json:"commit"`
	// Tag is the tag of a tag's run.
	Tag string `json:"tag,omitempty"`
	// Event is what started the run (pipelines.Event*); empty in requests
	// recorded before events: push.
	Event string `json:"event,omitempty"`
	// Base is what the push's changes were compared with (a commit or the
	// default branch); a retry compares with it again.
	Base string `json:"base,omitempty"`
	// Merge is the commit of a merge request's target the run merges its
	// commit with (contract.Source.Merge); a retry merges the same one.
	Merge string `json:"merge,omitempty"`
	// Pipeline is the pipeline of the repository the run is of: "" for
	// .sluice.yml, "api" for .sluice/api.yml (pipelines.PipelineOf).
	Pipeline string `json:"pipeline,omitempty"`
	// Inputs are the spec's inputs for the run (given, else defaults),
	// checked against their types; steps get them as SLUICE_INPUT_<NAME>.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Author is the commit author (email or username).
	Author string `json:"author,omitempty"`
	// AuthorIDs are every identity of the author (email, username, chat id):
	// none of them may approve the run.
	AuthorIDs []string `json:"author_ids,omitempty"`
	// PusherIDs are every identity of the account that pushed: it may not
	// approve either (a committer can write any author into a commit).
	PusherIDs []string `json:"pusher_ids,omitempty"`
	// DeliveryID identifies the webhook delivery or CLI request; a push
	// with a DeliveryID already seen by the branch's run is ignored.
	DeliveryID string `json:"delivery_id,omitempty"`
	Message    string `json:"message,omitempty"`
	// Committed is when the commit was made: where its lead time to
	// production starts.
	Committed time.Time `json:"committed,omitzero"`
}

// Key is what the push's runs and deliveries are known by in place of the
// repository: the repository, and "#<pipeline>" for a pipeline of
// .sluice/ ("acme/mono#api"; no Git host allows # in a repository's name).
func (p Push) Key() string {
	if p.Pipeline == "" {
		return p.Repo
	}
	return p.Repo + "#" + p.Pipeline
}

// Request is a push together with the spec read from its commit.
type Request struct {
	Push Push `json:"push"`
	// Spec is the effective spec: the commit's, tightened by the server's
	// policy, without the phases Policy withholds.
	Spec pipelines.Spec `json:"spec"`
	// Policy is what the server's policy decided; nil in requests recorded
	// before policies (their guards are the zero Guard's defaults).
	Policy *Governance `json:"policy,omitempty"`
	// Skipped are the spec's phases whose `when` rule did not hold for
	// the push (and those needing them): not in Spec, shown with the rule.
	Skipped []pipelines.Skip `json:"skipped,omitempty"`
}

// DispatchResult says what happened to a delivery's push.
type DispatchResult struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	Action     string `json:"action"`
}

// ScheduledRun is what a schedule starts each time it fires: a run of the
// branch's head as it is then, like `sluice run`.
type ScheduledRun struct {
	// Name is the schedule's (sluice schedule create NAME).
	Name string `json:"name"`
	// Repo and CloneURL are the repository, as the server resolved it
	// when the schedule was made.
	Repo     string `json:"repo"`
	CloneURL string `json:"clone_url"`
	Branch   string `json:"branch"`
	Pipeline string `json:"pipeline,omitempty"`
	// Inputs are values of the spec's inputs, checked at every run.
	Inputs map[string]string `json:"inputs,omitempty"`
	// By made the schedule: the runs' pusher, who may not approve them.
	By string `json:"by,omitempty"`
}
