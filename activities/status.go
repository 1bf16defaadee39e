package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-cd/sluice/attempt"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitstatus"
)

// CommitStatus sets the run's status on the pushed commit.
type CommitStatus struct {
	// Reporters by repository name; a repository without one gets no status.
	Reporters map[string]gitstatus.Reporter
	// UIURL and Namespace build the status's link to the run.
	UIURL     string
	Namespace string

	// progressRetry, when set, replaces progressRetry (tests).
	progressRetry time.Duration
}

// SetStatus reports the status. A failure is returned for Temporal to
// retry; the workflow never waits long for it.
func (c *CommitStatus) SetStatus(ctx context.Context, in contract.StatusInput) (_ contract.Nothing, err error) {
	defer classify(&err)
	r := c.Reporters[in.Repo]
	if r == nil {
		return contract.Nothing{}, nil
	}
	link := ""
	if c.UIURL != "" {
		link = contract.RunLink(c.UIURL, c.Namespace, in.WorkflowID, in.RunID)
	}
	st := gitstatus.Status{Repo: in.Repo, Commit: in.Commit, State: in.State, Description: in.Description, TargetURL: link, Name: in.Name}
	if attempt.Retried(ctx) {
		// an earlier attempt may have set it and died before reporting so
		if done, err := r.Has(ctx, st); err == nil && done {
			return contract.Nothing{}, nil
		}
	}
	if err := r.Set(ctx, st); err != nil {
		return contract.Nothing{}, fmt.Errorf("set %s status of %s@%s: %w", in.State, in.Repo, in.Commit, err)
	}
	return contract.Nothing{}, nil
}
