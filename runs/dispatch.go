package runs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/webhooks"
	"github.com/sluice-cd/sluice/workflows"
)

// Dispatcher is the activity behind the Dispatch workflow.
type Dispatcher struct{ Client *Client }

// StartPipeline starts or hands over the push (registered as
// workflows.ActivityStartPipeline).
func (d *Dispatcher) StartPipeline(ctx context.Context, req workflows.Request) (workflows.DispatchResult, error) {
	s, err := d.Client.Start(ctx, req)
	if err != nil {
		return workflows.DispatchResult{}, err
	}
	return workflows.DispatchResult{WorkflowID: s.Ref.WorkflowID, RunID: s.Ref.RunID, Action: s.Action}, nil
}

// PushStarter implements webhooks.Starter: it reads the spec at the pushed
// commit (so a broken spec is answered at once and starts nothing), applies
// the spec's branch triggers, and records the delivery durably by starting
// its Dispatch workflow.
type PushStarter struct {
	Client *Client
	Config *config.Config
}

var _ webhooks.Starter = (*PushStarter)(nil)

// StartPush implements webhooks.Starter.
func (s *PushStarter) StartPush(ctx context.Context, repo *config.Repository, p webhooks.Push) (webhooks.Outcome, error) {
	data, _, err := gitsrc.ReadFile(ctx, repo.CloneURL, p.Branch, p.Commit, pipelines.FileName)
	if errors.Is(err, gitsrc.ErrNotFound) {
		return webhooks.Outcome{Status: http.StatusUnprocessableEntity, Result: "invalid", Detail: err.Error()}, nil
	}
	if err != nil {
		return webhooks.Outcome{}, fmt.Errorf("read %s: %w", pipelines.FileName, err)
	}
	spec, err := pipelines.Parse(pipelines.FileName, data, path.Base(p.Repo))
	if err != nil {
		return webhooks.Outcome{Status: http.StatusUnprocessableEntity, Result: "invalid", Detail: err.Error()}, nil
	}
	if !spec.Triggers(p.Branch) {
		return webhooks.Outcome{Status: http.StatusOK, Result: "ignored", Detail: "branch " + p.Branch + " is not in on.branches"}, nil
	}
	author := p.AuthorEmail
	if author == "" {
		author = p.AuthorUsername
	}
	req := workflows.Request{Spec: *spec, Push: workflows.Push{
		Repo: p.Repo, CloneURL: repo.CloneURL, Branch: p.Branch, Commit: p.Commit, Author: author,
		AuthorIDs:  s.Config.AuthorIDs(p.AuthorEmail, p.AuthorUsername, p.AuthorName),
		DeliveryID: p.DeliveryID, Message: p.Message,
	}}
	id := workflows.DispatchWorkflowID(p.Provider, p.DeliveryID)
	_, err = s.Client.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                s.Client.queue(),
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.Dispatch, req)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		return webhooks.Outcome{Status: http.StatusOK, Result: "duplicate", Detail: "delivery " + p.DeliveryID + " was already accepted", Dispatch: id}, nil
	case err != nil:
		return webhooks.Outcome{}, fmt.Errorf("record delivery: %w", err)
	}
	return webhooks.Outcome{Status: http.StatusAccepted, Result: "accepted", Detail: fmt.Sprintf("run of %s@%s", p.Branch, p.Commit), Dispatch: id}, nil
}
