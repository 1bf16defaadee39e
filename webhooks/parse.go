// Package webhooks receives Git push webhooks from GitHub, GitLab and Gitea:
// it verifies each request before parsing it, parses push and pull/merge
// request events with the providers' own types, and hands a Push to a
// Starter. Nothing in here talks to Temporal.
package webhooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-github/v75/github"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/sluice-cd/sluice/pipelines"
)

// Push is a provider-neutral push: what a run needs to know.
type Push struct {
	Provider       string `json:"provider"`
	Repo           string `json:"repo"`
	Branch         string `json:"branch"`
	Commit         string `json:"commit"`
	AuthorName     string `json:"author_name,omitempty"`
	AuthorEmail    string `json:"author_email,omitempty"`
	AuthorUsername string `json:"author_username,omitempty"`
	// Pusher is the account that pushed (or opened the merge request); it
	// may differ from the commit author, which the committer sets freely.
	Pusher      string `json:"pusher,omitempty"`
	PusherEmail string `json:"pusher_email,omitempty"`
	Message     string `json:"message,omitempty"`
	DeliveryID  string `json:"delivery_id"`
	// Deleted marks a branch deletion, which never starts a run.
	Deleted bool `json:"deleted,omitempty"`
	// Event is what happened: push, tag or merge-request (pipelines.Event*).
	Event string `json:"event,omitempty"`
	// Tag is the pushed tag of a tag push; Branch is then its
	// pipelines.TagRef.
	Tag string `json:"tag,omitempty"`
	// Base is what the push's changes are compared with: the branch's
	// previous commit, the default branch for a new branch, a merge
	// request's target; empty: not known (a tag).
	Base string `json:"base,omitempty"`
}

// ErrMalformed wraps every parse failure of a verified body.
var ErrMalformed = errors.New("malformed payload")

// Ignored is returned for well-formed events that do not start runs; its
// text is the reason the receiver answers with.
type Ignored string

func (i Ignored) Error() string { return string(i) }

const zeroSHA = "0000000000000000000000000000000000000000"

func branchOf(ref string) (string, error) {
	b, ok := strings.CutPrefix(ref, "refs/heads/")
	if !ok {
		return "", Ignored(fmt.Sprintf("ref %q is not a branch", ref))
	}
	if err := pipelines.ValidBranchName(b); err != nil {
		return "", Ignored(err.Error())
	}
	return b, nil
}

// setRef sets the push's branch, or its tag, from the pushed ref.
func (p *Push) setRef(ref string) error {
	if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		p.Tag, p.Branch, p.Event = tag, pipelines.TagRef(tag), pipelines.EventTag
		return nil
	}
	b, err := branchOf(ref)
	p.Branch, p.Event = b, pipelines.EventPush
	return err
}

// setBase sets what a branch push is compared with: its previous commit,
// or for a new branch the default branch (a new default branch: nothing).
func (p *Push) setBase(before, defaultBranch string) {
	switch {
	case p.Tag != "":
	case before != "" && before != zeroSHA:
		p.Base = before
	case defaultBranch != "" && defaultBranch != p.Branch:
		p.Base = defaultBranch
	}
}

func malformed(err error) error { return fmt.Errorf("%w: %w", ErrMalformed, err) }

// ParseGitHub reads a GitHub push or pull_request event.
func ParseGitHub(event string, body []byte) (*Push, error) {
	if event == "" {
		return nil, malformed(errors.New("missing X-GitHub-Event"))
	}
	ev, err := github.ParseWebHook(event, body)
	if err != nil {
		if strings.Contains(err.Error(), "unknown X-Github-Event") {
			return nil, Ignored("event " + event + " does not start runs")
		}
		return nil, malformed(err)
	}
	switch e := ev.(type) {
	case *github.PushEvent:
		p := &Push{Provider: "github", Repo: e.GetRepo().GetFullName(), Commit: e.GetAfter(), Deleted: e.GetDeleted() || e.GetAfter() == zeroSHA}
		if err = p.setRef(e.GetRef()); err != nil {
			return nil, err
		}
		p.setBase(e.GetBefore(), e.GetRepo().GetDefaultBranch())
		if hc := e.GetHeadCommit(); hc != nil {
			p.AuthorName, p.AuthorEmail, p.AuthorUsername = hc.GetAuthor().GetName(), hc.GetAuthor().GetEmail(), hc.GetAuthor().GetLogin()
			p.Message = hc.GetMessage()
		}
		if p.AuthorUsername == "" {
			p.AuthorUsername = e.GetPusher().GetName()
		}
		p.Pusher, p.PusherEmail = e.GetPusher().GetName(), e.GetPusher().GetEmail()
		if s := e.GetSender().GetLogin(); s != "" {
			p.Pusher = s
		}
		return p, nil
	case *github.PullRequestEvent:
		switch e.GetAction() {
		case "opened", "synchronize", "reopened":
		default:
			return nil, Ignored("pull_request action " + e.GetAction() + " does not start runs")
		}
		head := e.GetPullRequest().GetHead()
		if head.GetRepo().GetFullName() != e.GetRepo().GetFullName() {
			return nil, Ignored("pull requests from forks do not start runs")
		}
		if err := pipelines.ValidBranchName(head.GetRef()); err != nil {
			return nil, Ignored(err.Error())
		}
		return &Push{Provider: "github", Repo: e.GetRepo().GetFullName(), Branch: head.GetRef(), Commit: head.GetSHA(),
			AuthorUsername: e.GetPullRequest().GetUser().GetLogin(), Pusher: e.GetSender().GetLogin(), Message: e.GetPullRequest().GetTitle(),
			Event: pipelines.EventMergeRequest, Base: e.GetPullRequest().GetBase().GetSHA()}, nil
	case *github.PingEvent:
		return nil, Ignored("ping")
	}
	return nil, Ignored("event " + event + " does not start runs")
}

// ParseGitLab reads a GitLab push or merge request event.
func ParseGitLab(event string, body []byte) (*Push, error) {
	ev, err := gitlab.ParseWebhook(gitlab.EventType(event), body)
	if err != nil {
		if strings.Contains(err.Error(), "unexpected event type") {
			return nil, Ignored("event " + event + " does not start runs")
		}
		return nil, malformed(err)
	}
	switch e := ev.(type) {
	case *gitlab.PushEvent:
		p := &Push{Provider: "gitlab", Repo: e.Project.PathWithNamespace, Commit: e.After, Deleted: e.After == zeroSHA,
			AuthorUsername: e.UserUsername, AuthorName: e.UserName, AuthorEmail: e.UserEmail,
			Pusher: e.UserUsername, PusherEmail: e.UserEmail}
		if p.Branch, err = branchOf(e.Ref); err != nil {
			return nil, err
		}
		p.Event = pipelines.EventPush
		p.setBase(e.Before, e.Project.DefaultBranch)
		for _, c := range e.Commits {
			if c != nil && c.ID == e.After {
				p.Message = c.Message
				if c.Author.Email != "" {
					p.AuthorName, p.AuthorEmail = c.Author.Name, c.Author.Email
				}
			}
		}
		return p, nil
	case *gitlab.MergeEvent:
		a := e.ObjectAttributes
		switch a.Action {
		case "open", "update", "reopen":
		default:
			return nil, Ignored("merge request action " + a.Action + " does not start runs")
		}
		if a.SourceProjectID != a.TargetProjectID {
			return nil, Ignored("merge requests from forks do not start runs")
		}
		if err := pipelines.ValidBranchName(a.SourceBranch); err != nil {
			return nil, Ignored(err.Error())
		}
		p := &Push{Provider: "gitlab", Repo: e.Project.PathWithNamespace, Branch: a.SourceBranch, Commit: a.LastCommit.ID, Message: a.Title,
			Event: pipelines.EventMergeRequest, Base: a.TargetBranch}
		if e.User != nil {
			p.AuthorUsername, p.AuthorName, p.Pusher = e.User.Username, e.User.Name, e.User.Username
		}
		return p, nil
	case *gitlab.TagEvent:
		// a tag push names the tag's object in after, the commit in checkout_sha
		p := &Push{Provider: "gitlab", Repo: e.Project.PathWithNamespace, Commit: e.CheckoutSHA, Deleted: e.After == zeroSHA,
			AuthorUsername: e.UserUsername, AuthorName: e.UserName, AuthorEmail: e.UserEmail,
			Pusher: e.UserUsername, PusherEmail: e.UserEmail, Message: e.Message}
		if p.Commit == "" {
			p.Commit = e.After
		}
		tag, ok := strings.CutPrefix(e.Ref, "refs/tags/")
		if !ok {
			return nil, malformed(fmt.Errorf("tag push of ref %q", e.Ref))
		}
		p.Tag, p.Branch, p.Event = tag, pipelines.TagRef(tag), pipelines.EventTag
		return p, nil
	}
	return nil, Ignored("event " + event + " does not start runs")
}

// giteaPush is Gitea's push payload, built from the Gitea SDK's types.
type giteaPush struct {
	Ref        string                 `json:"ref"`
	Before     string                 `json:"before"`
	After      string                 `json:"after"`
	HeadCommit *gitea.PayloadCommit   `json:"head_commit"`
	Commits    []*gitea.PayloadCommit `json:"commits"`
	Repo       *gitea.Repository      `json:"repository"`
	Pusher     *gitea.User            `json:"pusher"`
}

// ParseGitea reads a Gitea push event.
func ParseGitea(event string, body []byte) (*Push, error) {
	if event != "push" {
		if event == "" {
			return nil, malformed(errors.New("missing X-Gitea-Event"))
		}
		return nil, Ignored("event " + event + " does not start runs")
	}
	var e giteaPush
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, malformed(err)
	}
	if e.Repo == nil || e.Repo.FullName == "" || e.After == "" {
		return nil, malformed(errors.New("push without repository or after"))
	}
	p := &Push{Provider: "gitea", Repo: e.Repo.FullName, Commit: e.After, Deleted: e.After == zeroSHA}
	if err := p.setRef(e.Ref); err != nil {
		return nil, err
	}
	p.setBase(e.Before, e.Repo.DefaultBranch)
	if e.Pusher != nil {
		p.AuthorUsername = e.Pusher.UserName
		p.Pusher, p.PusherEmail = e.Pusher.UserName, e.Pusher.Email
	}
	if c := e.HeadCommit; c != nil {
		p.Message = c.Message
		if c.Author != nil {
			p.AuthorName, p.AuthorEmail = c.Author.Name, c.Author.Email
			if c.Author.UserName != "" {
				p.AuthorUsername = c.Author.UserName
			}
		}
	}
	return p, nil
}
