// Package attempt is what an activity attempt's context carries, for the
// activities and for the adapters they call (chat, Git hosts): the run's
// logger, set by the worker, and whether this attempt is a retry.
package attempt

import (
	"context"
	"log/slog"
	"strings"

	"go.temporal.io/sdk/activity"
)

type loggerKey struct{}

// WithLogger returns ctx carrying l, the logger of the activity attempt
// ctx runs (the worker's interceptor sets one with the run's keys).
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger is the activity attempt's logger: the worker's, with the keys
// run and pipeline (and activity); slog's default outside a worker.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// RunKeys are the log keys naming a run of workflowID: run (the id the
// CLI takes, "<workflow id>@<run id>") and pipeline (the repository or
// name and branch, "acme/hello:main").
func RunKeys(workflowID, runID string) []any {
	pipeline := workflowID
	if p, ok := strings.CutPrefix(workflowID, "pipeline/"); ok {
		pipeline = p
	}
	return []any{"run", workflowID + "@" + runID, "pipeline", pipeline}
}

// Retried says whether this is a second or later attempt of an activity:
// one that changes the world checks first whether an earlier attempt
// already did, since a worker can die after the change and before Temporal
// hears of it.
func Retried(ctx context.Context) bool {
	return activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt > 1
}
