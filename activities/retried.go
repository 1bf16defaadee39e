package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
)

// Retried says whether this is a second or later attempt of an activity:
// one that changes the world checks first whether an earlier attempt
// already did, since a worker can die after the change and before Temporal
// hears of it.
func Retried(ctx context.Context) bool {
	return activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt > 1
}
