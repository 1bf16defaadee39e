// Package bind registers activity implementations under their typed
// references in package contract. The type parameters make an implementation
// whose input or result differs from the contract a compile error; the name
// comes from the reference, so renaming a Go method changes nothing recorded.
// Workers use it, and so do tests that script activities.
package bind

import (
	"context"

	"go.temporal.io/sdk/activity"

	"github.com/sluice-cd/sluice/contract"
)

// Registry is what a Temporal worker and a test workflow environment both
// offer for registering activities.
type Registry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Activity registers fn as the implementation of a.
func Activity[In, Out any](r Registry, a contract.Activity[In, Out], fn func(context.Context, In) (Out, error)) {
	r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: a.Name})
}

// Undo registers fn as the implementation of the compensation u.
func Undo[In any](r Registry, u contract.Undo[In], fn func(context.Context, In) error) {
	r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: u.Name})
}
