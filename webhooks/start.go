package webhooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitstatus"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/request"
)

// SpecReadTimeout bounds reading .sluice.yml while a webhook waits: Git
// hosts give up on a delivery after 10 s.
const SpecReadTimeout = 8 * time.Second

// Dispatcher records an accepted push durably, at most once per push of a
// commit to a branch; the run starts from that record.
// Implementations are safe for concurrent use.
type Dispatcher interface {
	// Dispatch records req. duplicate says the push was recorded before
	// (a redelivery or a replay); id names the record either way.
	Dispatch(ctx context.Context, provider string, req contract.Request) (id string, duplicate bool, err error)
}

// Pushes is the Starter of a server: it builds the push's request with the
// request builder every door uses (so a broken spec is answered at once
// and starts nothing) and dispatches it.
type Pushes struct {
	// Config is the server's configuration (pools, linked identities,
	// projects and their policies).
	Config   *config.Config
	Dispatch Dispatcher
	// Statuses, by repository name, get a failed commit status for a push
	// whose spec is refused (nothing runs to report it otherwise).
	Statuses map[string]gitstatus.Reporter
	Log      *slog.Logger
}

var _ Starter = (*Pushes)(nil)

// StartPush implements Starter. Every pipeline of the pushed commit is
// decided on its own; the answer is 202 when any run was accepted, 422
// when none was and a spec was refused, else 200 (duplicate or ignored),
// and its detail names each pipeline's outcome.
func (s *Pushes) StartPush(ctx context.Context, repo *config.Repository, p Push) (Outcome, error) {
	b := &request.Builder{Config: s.Config, ReadTimeout: SpecReadTimeout}
	built, err := b.BuildAll(ctx, Source(repo, p))
	var invalid *request.Invalid
	if errors.As(err, &invalid) {
		s.refused(repo.Name, "", invalid)
		return Outcome{Status: http.StatusUnprocessableEntity, Result: "invalid", Detail: invalid.Err.Error()}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	var accepted, duplicate, refused, ignored []string
	var dispatches []string
	for _, one := range built {
		label := func(what string) string {
			if len(built) == 1 {
				return what
			}
			return "pipeline " + cmp.Or(one.Pipeline, pipelines.FileName) + ": " + what
		}
		var ig request.Ignored
		switch {
		case errors.As(one.Err, &invalid):
			s.refused(repo.Name, one.Pipeline, invalid)
			refused = append(refused, label(invalid.Err.Error()))
			continue
		case errors.As(one.Err, &ig):
			ignored = append(ignored, label(ig.Error()))
			continue
		}
		id, dup, err := s.Dispatch.Dispatch(ctx, p.Provider, one.Request)
		switch {
		case err != nil:
			return Outcome{}, fmt.Errorf("record delivery: %w", err)
		case dup:
			duplicate = append(duplicate, label(fmt.Sprintf("commit %s of %s was already accepted (delivery %s is a redelivery or a replay)", p.Commit, p.Branch, p.DeliveryID)))
		default:
			accepted = append(accepted, label(fmt.Sprintf("run of %s@%s", p.Branch, p.Commit)))
		}
		dispatches = append(dispatches, id)
	}
	detail := strings.Join(slices.Concat(accepted, refused, duplicate, ignored), "\n")
	out := Outcome{Detail: detail, Dispatch: strings.Join(dispatches, " ")}
	switch {
	case len(accepted) > 0:
		out.Status, out.Result = http.StatusAccepted, "accepted"
	case len(refused) > 0:
		out.Status, out.Result = http.StatusUnprocessableEntity, "invalid"
	case len(duplicate) > 0:
		out.Status, out.Result = http.StatusOK, "duplicate"
	default:
		out.Status, out.Result = http.StatusOK, "ignored"
	}
	return out, nil
}

// Source is what a verified push of repo asks the request builder for.
func Source(repo *config.Repository, p Push) request.Source {
	return request.Source{
		Repo: p.Repo, CloneURL: repo.CloneURL, Branch: p.Branch, Commit: p.Commit,
		AuthorName: p.AuthorName, AuthorEmail: p.AuthorEmail, AuthorUsername: p.AuthorUsername,
		Pusher: p.Pusher, PusherEmail: p.PusherEmail, DeliveryID: p.DeliveryID, Message: p.Message,
		Event: p.Event, Base: p.Base,
	}
}

// refusedStatusTimeout bounds setting the failed status of a refused push.
const refusedStatusTimeout = 30 * time.Second

// refused sets a failed commit status on a push whose spec was refused,
// in the background: the Git host is answered at once.
func (s *Pushes) refused(repo, pipeline string, invalid *request.Invalid) {
	rep, ok := s.Statuses[repo]
	if !ok || invalid.Commit == "" {
		return
	}
	desc := invalid.Err.Error()
	if i := strings.IndexByte(desc, '\n'); i >= 0 {
		desc = desc[:i]
	}
	desc = "spec refused: " + desc
	if len(desc) > 140 { // GitHub's limit
		desc = desc[:137] + "..."
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), refusedStatusTimeout)
		defer cancel()
		err := rep.Set(ctx, gitstatus.Status{Repo: repo, Commit: invalid.Commit, State: gitstatus.Failure, Description: desc, Name: contract.StatusName(pipeline)})
		if err != nil && s.Log != nil {
			s.Log.Warn("failed commit status of a refused push", "repo", repo, "commit", invalid.Commit, "error", err)
		}
	}()
}
