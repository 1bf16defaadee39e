package contract

// Error types that activities fail with and workflows recognise. All are
// non-retryable: no retry of the same input can fix them.
const (
	// ErrStepFailed: a command exited non-zero or timed out.
	ErrStepFailed = "StepFailed"
	// ErrInvalidInput: the activity was called with input it can never accept.
	ErrInvalidInput = "InvalidInput"
	// ErrNotConfigured: the phase needs a component this worker was not given.
	ErrNotConfigured = "NotConfigured"
	// ErrUnsupported: this version of Sluice cannot run the phase.
	ErrUnsupported = "Unsupported"
	// ErrSource: the commit could not be checked out (missing commit, bad URL).
	ErrSource = "SourceUnavailable"
	// ErrVerifyFailed: a release did not pass its verify (or never became
	// available) and the previous release is back.
	ErrVerifyFailed = "VerifyFailed"
	// ErrUntrusted: an image lacks this installation's signature for the
	// run's commit; promote, deploy and production refuse it.
	ErrUntrusted = "UntrustedImage"
	// ErrVulnerable: promote's scan found vulnerabilities its policy
	// refuses (always raised as non-retryable).
	ErrVulnerable = "VulnerableImage"
)

// NonRetryable lists the error types no retry can fix, for retry policies.
func NonRetryable() []string {
	return []string{ErrStepFailed, ErrInvalidInput, ErrNotConfigured, ErrUnsupported, ErrSource, ErrVerifyFailed, ErrUntrusted}
}
