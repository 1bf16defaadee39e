// Package activities adapts workflow calls to the libraries that touch the
// world: Git, the step executor, the log store, and (as they arrive) the
// image builder, Kubernetes and chat. Each activity struct holds its clients;
// the worker builds it once and registers each method under its typed
// reference in package contract. Errors are classified in one table
// (errors.go): a domain error no retry can mend — a problem with the run's
// input, a failed step, an unsigned image — becomes non-retryable under
// the type the workflow sees; anything else is returned as is and Temporal
// retries it. Every activity defers classify.
package activities

import "github.com/sluice-cd/sluice/contract"

// Error types, re-exported from contract for the adapters' own use.
const (
	ErrStepFailed    = contract.ErrStepFailed
	ErrInvalidInput  = contract.ErrInvalidInput
	ErrNotConfigured = contract.ErrNotConfigured
	ErrUnsupported   = contract.ErrUnsupported
	ErrSource        = contract.ErrSource
)
