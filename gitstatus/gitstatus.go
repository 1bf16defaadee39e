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
	// Has says whether the commit's newest status of s's name is s already
	// (same state, description and link): a retried Set that finds it
	// skips the second write.
	Has(ctx context.Context, s Status) (bool, error)
}

// same compares a status read back from a host with s, in the host's own
// state names.
func same(s Status, state, description, targetURL string) bool {
	return state == s.hostState() && description == s.Description && targetURL == s.TargetURL
}

// hostState is the state as GitHub and Gitea name it (they have no
// "running"; GitLab's names are mapped by its reporter).
func (s Status) hostState() string {
	if s.State == Running {
		return Pending
	}
	return s.State
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
	state := s.hostState()
	_, _, err = r.c.Repositories.CreateStatus(ctx, owner, name, s.Commit, &github.RepoStatus{
		State: &state, Description: &s.Description, TargetURL: &s.TargetURL, Context: github.Ptr(s.name())})
	return err
}

func (r *githubReporter) Has(ctx context.Context, s Status) (bool, error) {
	owner, name, err := split(s.Repo)
	if err != nil {
		return false, err
	}
	list, _, err := r.c.Repositories.ListStatuses(ctx, owner, name, s.Commit, &github.ListOptions{PerPage: 100})
	if err != nil {
		return false, err
	}
	for _, st := range list { // newest first
		if st.GetContext() == s.name() {
			return same(s, st.GetState(), st.GetDescription(), st.GetTargetURL()), nil
		}
	}
	return false, nil
}

type gitlabReporter struct{ c *gitlab.Client }

var gitlabStates = map[string]gitlab.BuildStateValue{Pending: gitlab.Pending, Running: gitlab.Running, Success: gitlab.Success, Failure: gitlab.Failed}

func (r *gitlabReporter) Has(ctx context.Context, s Status) (bool, error) {
	list, _, err := r.c.Commits.GetCommitStatuses(s.Repo, s.Commit, &gitlab.GetCommitStatusesOptions{Name: gitlab.Ptr(s.name()), All: gitlab.Ptr(true)}, gitlab.WithContext(ctx))
	if err != nil {
		return false, err
	}
	var newest *gitlab.CommitStatus
	for _, st := range list {
		if st.Name == s.name() && (newest == nil || st.ID > newest.ID) {
			newest = st
		}
	}
	return newest != nil && newest.Status == string(gitlabStates[s.State]) && newest.Description == s.Description && newest.TargetURL == s.TargetURL, nil
}

func (r *gitlabReporter) Set(ctx context.Context, s Status) error {
	state := gitlabStates[s.State]
	_, _, err := r.c.Commits.SetCommitStatus(s.Repo, s.Commit, &gitlab.SetCommitStatusOptions{
		State: state, Name: gitlab.Ptr(s.name()), Description: &s.Description, TargetURL: &s.TargetURL}, gitlab.WithContext(ctx))
	return err
}

type giteaReporter struct{ c *gitea.Client }

func (r *giteaReporter) Has(ctx context.Context, s Status) (bool, error) {
	owner, name, err := split(s.Repo)
	if err != nil {
		return false, err
	}
	r.c.SetContext(ctx)
	list, _, err := r.c.ListStatuses(owner, name, s.Commit, gitea.ListStatusesOption{})
	if err != nil {
		return false, err
	}
	var newest *gitea.Status
	for _, st := range list {
		if st.Context == s.name() && (newest == nil || st.ID > newest.ID) {
			newest = st
		}
	}
	return newest != nil && same(s, string(newest.State), newest.Description, newest.TargetURL), nil
}

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
