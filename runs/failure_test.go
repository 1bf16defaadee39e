package runs

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/sdk/temporal"
)

func TestFailureMessage(t *testing.T) {
	inner := temporal.NewNonRetryableApplicationError("phase rollback needs a Kubernetes cluster: set --kubeconfig", "NotConfigured", nil)
	outer := temporal.NewApplicationErrorWithCause("rollback of pay in pay-prod: activity error (type: RollbackRelease, scheduledEventID: 5, identity: 1@vm@): phase rollback needs a Kubernetes cluster: set --kubeconfig (type: NotConfigured, retryable: false)", "wrapError", inner)
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("workflow execution error (type: Rollback, workflowID: x): %w", outer), "rollback of pay in pay-prod: phase rollback needs a Kubernetes cluster: set --kubeconfig"},
		{inner, "phase rollback needs a Kubernetes cluster: set --kubeconfig"},
		{errors.New("plain"), "plain"},
	} {
		if got := FailureMessage(c.err); got != c.want {
			t.Errorf("FailureMessage(%v)\n = %q\nwant %q", c.err, got, c.want)
		}
	}
}
