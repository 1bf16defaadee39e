package records

import (
	"context"
	"strings"

	"github.com/sluice-cd/sluice/contract"
)

// Dispatcher starts what an accepted push runs (runs.Client does, through
// Temporal, which remembers it only for the namespace's retention).
type Dispatcher interface {
	Dispatch(ctx context.Context, provider string, req contract.Request) (id string, duplicate bool, err error)
}

// Pushes refuses a push the records hold as accepted, however long ago,
// and records every push it lets through once Next has dispatched it. A
// push is dispatched before it is recorded: when the record cannot be
// written the delivery fails and is delivered again, and Next recognises
// it while Temporal still holds it, so nothing is lost or run twice.
type Pushes struct {
	Store *Store
	Next  Dispatcher
}

// PushKey names a push of one pipeline: provider, repository
// (case-folded) and pipeline, branch, commit, one per line (a Git ref or
// repository name holds no control character; PostgreSQL's text holds no
// NUL, which the keys of schema versions before 4 were joined with).
func PushKey(provider string, p contract.Push) string {
	return strings.Join([]string{provider, strings.ToLower(p.Key()), p.Branch, p.Commit}, "\n")
}

// Dispatch implements the webhooks' Dispatcher.
func (p *Pushes) Dispatch(ctx context.Context, provider string, req contract.Request) (string, bool, error) {
	key := PushKey(provider, req.Push)
	if id, seen, err := p.Store.Push(ctx, key); err != nil || seen {
		return id, seen, err
	}
	id, duplicate, err := p.Next.Dispatch(ctx, provider, req)
	if err != nil {
		return "", false, err
	}
	if _, err := p.Store.AcceptPush(ctx, key, id); err != nil {
		return "", false, err
	}
	return id, duplicate, nil
}
