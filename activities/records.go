package activities

import (
	"context"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/records"
)

// Records writes run records to Sluice's records database.
type Records struct{ Store *records.Store }

// Record writes a run's record (contract.RecordRun); writing one twice
// changes nothing, so a retried attempt writes once.
func (r *Records) Record(ctx context.Context, rec contract.RunRecord) (contract.Nothing, error) {
	return contract.Nothing{}, r.Store.WriteRun(ctx, rec)
}
