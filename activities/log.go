package activities

import (
	"context"
	"log/slog"
	"strings"
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
