// Package gitstatus reports a run's progress as a commit status on the Git
// host (GitHub, GitLab, Gitea) through each host's own client library.
package gitstatus

import (
	"context"
	"fmt"
	"strings"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-github/v75/github"
	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// States of a commit status, in Sluice's words.
const (
	Pending = "pending"
	Running = "running"
	Success = "success"
	Failure = "failure"
)

// Context is the status name shown on the commit.
const Context = "sluice"

// Status is one update of a commit's status.
type Status struct {
	Repo        string `json:"repo"`
	Commit      string `json:"commit"`
	State       string `json:"state"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url,omitempty"`
	// Name is the status's name (its "context"); empty means Context.
	Name string `json:"name,omitempty"`
}

func (s Status) name() string {
	if s.Name == "" {
		return Context
	}
	return s.Name
}

// Reporter sets commit statuses on one Git host. Safe for concurrent use.
type Reporter interface {
	Set(ctx context.Context, s Status) error
}

// New returns the reporter for a provider. apiURL empty means the public
// host (GitHub, gitlab.com); Gitea always needs it.
func New(provider, apiURL, token string) (Reporter, error) {
	switch provider {
	case "github":
		c := github.NewClient(nil).WithAuthToken(token)
		if apiURL != "" {
			var err error
			if c, err = c.WithEnterpriseURLs(apiURL, apiURL); err != nil {
				return nil, fmt.Errorf("github api url: %w", err)
			}
		}
		return &githubReporter{c}, nil
	case "gitlab":
		var opts []gitlab.ClientOptionFunc
		if apiURL != "" {
			opts = append(opts, gitlab.WithBaseURL(apiURL))
		}
		c, err := gitlab.NewClient(token, opts...)
		if err != nil {
			return nil, fmt.Errorf("gitlab client: %w", err)
		}
		return &gitlabReporter{c}, nil
	case "gitea":
		if apiURL == "" {
			return nil, fmt.Errorf("gitea needs api_url")
		}
		c, err := gitea.NewClient(apiURL, gitea.SetToken(token), gitea.SetGiteaVersion(""))
		if err != nil {
			return nil, fmt.Errorf("gitea client: %w", err)
		}
		return &giteaReporter{c}, nil
	}
	return nil, fmt.Errorf("unknown provider %q", provider)
}

func split(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok {
		return "", "", fmt.Errorf("repository %q is not owner/name", repo)
	}
	return owner, name, nil
}

type githubReporter struct{ c *github.Client }

func (r *githubReporter) Set(ctx context.Context, s Status) error {
	owner, name, err := split(s.Repo)
	if err != nil {
		return err
	}
	state := s.State
	if state == Running {
		state = Pending // GitHub has no running state
	}
	_, _, err = r.c.Repositories.CreateStatus(ctx, owner, name, s.Commit, &github.RepoStatus{
		State: &state, Description: &s.Description, TargetURL: &s.TargetURL, Context: github.Ptr(s.name())})
	return err
}

type gitlabReporter struct{ c *gitlab.Client }

func (r *gitlabReporter) Set(ctx context.Context, s Status) error {
	state := map[string]gitlab.BuildStateValue{Pending: gitlab.Pending, Running: gitlab.Running, Success: gitlab.Success, Failure: gitlab.Failed}[s.State]
	_, _, err := r.c.Commits.SetCommitStatus(s.Repo, s.Commit, &gitlab.SetCommitStatusOptions{
		State: state, Name: gitlab.Ptr(s.name()), Description: &s.Description, TargetURL: &s.TargetURL}, gitlab.WithContext(ctx))
	return err
}

type giteaReporter struct{ c *gitea.Client }

func (r *giteaReporter) Set(ctx context.Context, s Status) error {
	owner, name, err := split(s.Repo)
	if err != nil {
		return err
	}
	state := map[string]gitea.StatusState{Pending: gitea.StatusPending, Running: gitea.StatusPending, Success: gitea.StatusSuccess, Failure: gitea.StatusFailure}[s.State]
	r.c.SetContext(ctx)
	_, _, err = r.c.CreateStatus(owner, name, s.Commit, gitea.CreateStatusOption{State: state, TargetURL: s.TargetURL, Description: s.Description, Context: s.name()})
	return err
}
