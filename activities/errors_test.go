package activities

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/image"
)

// TestClassify: the one table decides which errors are permanent and under
// which type the workflow sees them; the message is the error's own, a
// transient error is left for Temporal to retry, and an error already
// classified keeps its class.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		typ  string // "" = retryable, left as it was
	}{
		{"invalid input", invalid("deploy.manifests %q must be inside", "../x"), contract.ErrInvalidInput},
		{"not configured", missing("bake", needBuildKit), contract.ErrNotConfigured},
		{"a step", stepFailed("command %q exited with status %d", "make", 2), contract.ErrStepFailed},
		{"a release", fail(errVerifyFailed, "release v3 failed"), contract.ErrVerifyFailed},
		{"a scan", fail(errVulnerable, "3 vulnerabilities"), contract.ErrVulnerable},
		{"a Dockerfile line", fmt.Errorf("%w: Dockerfile:3: RUN make: exit 2", image.ErrBuild), contract.ErrStepFailed},
		{"pods that cannot run", fmt.Errorf("service dependencies: %w", environments.ErrCannotRun), contract.ErrStepFailed},
		{"an unsigned image", fmt.Errorf("phase deploy refuses r@d: %w", image.ErrUntrusted), contract.ErrUntrusted},
		{"a missing commit", fmt.Errorf("checkout: %w", gitsrc.ErrNotFound), contract.ErrSource},
		{"a registry away", errors.New("dial tcp 127.0.0.1:5000: connection refused"), ""},
		{"already classified", temporal.NewNonRetryableApplicationError("x", "Custom", nil), "Custom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err
			classify(&err)
			var app *temporal.ApplicationError
			if tc.typ == "" {
				if errors.As(err, &app) || !errors.Is(err, tc.err) {
					t.Fatalf("a transient error was classified: %v", err)
				}
				return
			}
			if !errors.As(err, &app) || app.Type() != tc.typ || !app.NonRetryable() {
				t.Fatalf("%v: want non-retryable %s", err, tc.typ)
			}
			if app.Message() != tc.err.Error() && tc.typ != "Custom" {
				t.Errorf("message %q, want the error's own %q", app.Message(), tc.err.Error())
			}
		})
	}
	var none error
	if classify(&none); none != nil {
		t.Fatal("nil became an error")
	}
}
