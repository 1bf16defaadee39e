package worker

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/sluice-cd/sluice/attempt"
	"github.com/sluice-cd/sluice/metrics"
)

// observe gives every activity attempt the worker runs (phases, undos,
// notices) a logger with the run's keys (run, pipeline, activity), logs its
// end, and times it into sluice_activity_duration_seconds.
type observe struct {
	interceptor.WorkerInterceptorBase
	m   *metrics.Metrics // nil: no metrics
	log *slog.Logger
}

func (o *observe) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &observeActivity{o: o}
	i.Next = next
	return i
}

type observeActivity struct {
	interceptor.ActivityInboundInterceptorBase
	o *observe
}

func (a *observeActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	name := info.ActivityType.Name
	log := a.o.log.With(append(attempt.RunKeys(info.WorkflowExecution.ID, info.WorkflowExecution.RunID), "activity", name)...)
	start := time.Now()
	out, err := a.Next.ExecuteActivity(attempt.WithLogger(ctx, log), in)
	d := time.Since(start)
	if err != nil {
		log.Warn("activity failed", "attempt", info.Attempt, "duration", d, "error", err)
	} else {
		log.Info("activity finished", "attempt", info.Attempt, "duration", d)
	}
	if a.o.m != nil {
		a.o.m.ObserveActivity(name, d, err)
	}
	return out, err
}
