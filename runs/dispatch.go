package runs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

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
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		// a name Temporal refuses is refused on every retry too
		return workflows.DispatchResult{}, temporal.NewNonRetryableApplicationError("start pipeline: "+invalid.Error(), "InvalidArgument", err)
	}
	if err != nil {
		return workflows.DispatchResult{}, err
	}
	return workflows.DispatchResult{WorkflowID: s.Ref.WorkflowID, RunID: s.Ref.RunID, Action: s.Action}, nil
}

// SpecReadTimeout bounds reading .sluice.yml while a webhook waits.
const SpecReadTimeout = 8 * time.Second

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
	// Git hosts give up on a webhook after 10 s: the spec must be read in less.
	rctx, cancel := context.WithTimeout(ctx, SpecReadTimeout)
	defer cancel()
	data, _, err := gitsrc.ReadFile(rctx, repo.CloneURL, p.Branch, p.Commit, pipelines.FileName)
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
	if err := s.Config.CheckPool(spec.Pool()); err != nil {
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
		PusherIDs:  s.Config.AuthorIDs(p.Pusher, p.PusherEmail),
		DeliveryID: p.DeliveryID, Message: p.Message,
	}}
	id := workflows.DispatchWorkflowID(p.Provider, p.Repo, p.Branch, p.Commit)
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
		return webhooks.Outcome{Status: http.StatusOK, Result: "duplicate", Detail: fmt.Sprintf("commit %s of branch %s was already accepted (delivery %s is a redelivery or a replay)", p.Commit, p.Branch, p.DeliveryID), Dispatch: id}, nil
	case err != nil:
		return webhooks.Outcome{}, fmt.Errorf("record delivery: %w", err)
	}
	return webhooks.Outcome{Status: http.StatusAccepted, Result: "accepted", Detail: fmt.Sprintf("run of %s@%s", p.Branch, p.Commit), Dispatch: id}, nil
}
