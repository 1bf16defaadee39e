package worker

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/sluice-cd/sluice/metrics"
)

// observe times every activity attempt the worker runs (phases, undos,
// notices) into sluice_activity_duration_seconds.
type observe struct {
	interceptor.WorkerInterceptorBase
	m *metrics.Metrics
}

func (o *observe) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &observeActivity{m: o.m}
	i.Next = next
	return i
}

type observeActivity struct {
	interceptor.ActivityInboundInterceptorBase
	m *metrics.Metrics
}

func (a *observeActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	start := time.Now()
	out, err := a.Next.ExecuteActivity(ctx, in)
	a.m.ObserveActivity(activity.GetInfo(ctx).ActivityType.Name, time.Since(start), err)
	return out, err
}
