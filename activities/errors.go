package activities

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/secrets"
)

// The adapters' own permanent errors; invalid, missing, notConfigured,
// stepFailed and the like make them with their text.
var (
	errInvalid       = errors.New("invalid input")
	errNotConfigured = errors.New("not configured")
	errStepFailed    = errors.New("step failed")
	errVerifyFailed  = errors.New("release verify failed")
	errVulnerable    = errors.New("vulnerable image")
)

// permanent is the one table of errors no retry can mend, each with the
// error type the workflow sees (contract.Err*). The first match wins.
// Anything not in it is transient: Temporal retries it.
var permanent = []struct {
	is  error
	typ string
	// cause keeps the domain error as the failure's cause
	cause bool
}{
	{errInvalid, contract.ErrInvalidInput, false},
	{errNotConfigured, contract.ErrNotConfigured, false},
	{errStepFailed, contract.ErrStepFailed, false},
	{errVerifyFailed, contract.ErrVerifyFailed, false},
	{errVulnerable, contract.ErrVulnerable, false},
	// a Dockerfile step failed: its line is in the message
	{image.ErrBuild, contract.ErrStepFailed, false},
	// pods that cannot run (image pull, crash loop, unschedulable)
	{environments.ErrCannotRun, contract.ErrStepFailed, false},
	// a manifest that would reach beyond its namespace
	{environments.ErrRefused, contract.ErrInvalidInput, false},
	// an image without this installation's signature for the commit
	{image.ErrUntrusted, contract.ErrUntrusted, false},
	// a commit whose links lead out of its checkout
	{gitsrc.ErrLinkEscapes, contract.ErrInvalidInput, false},
	// a pipeline secret the policy does not give the phase, or cannot be read
	{secrets.ErrRefused, contract.ErrInvalidInput, false},
	{secrets.ErrUnreadable, contract.ErrNotConfigured, false},
	// a commit that cannot be checked out
	{gitsrc.ErrNotFound, contract.ErrSource, true},
	{gitsrc.ErrBadCommit, contract.ErrSource, true},
	// a merge request whose changes conflict with its target
	{gitsrc.ErrMergeConflict, contract.ErrSource, true},
	{gitsrc.ErrNoGit, contract.ErrNotConfigured, false},
}

// classify turns *err into what Temporal acts on: a permanent error becomes
// non-retryable under its type, anything else is left to be retried.
// Every activity defers it.
func classify(err *error) {
	if *err == nil {
		return
	}
	var app *temporal.ApplicationError
	if errors.As(*err, &app) {
		return
	}
	for _, p := range permanent {
		if errors.Is(*err, p.is) {
			var cause error
			if p.cause {
				cause = *err
			}
			*err = temporal.NewNonRetryableApplicationError((*err).Error(), p.typ, cause)
			return
		}
	}
}

// failure is an adapter's permanent error: its text, and the class it is.
type failure struct {
	class error
	msg   string
}

func (f *failure) Error() string        { return f.msg }
func (f *failure) Is(target error) bool { return target == f.class }

func fail(class error, format string, a ...any) error {
	return &failure{class: class, msg: fmt.Sprintf(format, a...)}
}

// invalid is a problem with the run's input (the spec, a missing output).
func invalid(format string, a ...any) error { return fail(errInvalid, format, a...) }

// notConfigured is something this worker lacks.
func notConfigured(format string, a ...any) error { return fail(errNotConfigured, format, a...) }

// stepFailed is the phase's own work failing: a command, a suite.
func stepFailed(format string, a ...any) error { return fail(errStepFailed, format, a...) }

// missing is a phase whose component this worker has no address for.
func missing(phase, what string) error {
	return notConfigured("phase %s needs %s", phase, what)
}
