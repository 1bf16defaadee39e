package records

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// The four keys of DORA (dora-team/fourkeys), from the records, per
// pipeline, for production:
//
//   - deployment frequency: successful production releases, and per day
//     over the window;
//   - lead time for changes: the median time from a released commit's
//     commit to its release being live (the production phase's end);
//   - change failure rate: the releases that failed (the production phase
//     failed; its undo put the earlier release back) or were rolled back
//     while live, over every release attempted;
//   - time to restore: the median time from a failure to a good release
//     being live again — a failed release from its start to its end (its
//     undo); a rolled-back release from being live to the rollback's end.

// Window is the default span of the four keys: the last 30 days.
const Window = 30 * 24 * time.Hour

// Release is one production release a pipeline run attempted.
type Release struct {
	// Project and Pipeline name the pipeline: a spec names its pipeline,
	// so two projects' may share a name and are kept apart.
	Project  string
	Pipeline string
	RunID    string
	// Committed is the commit's time; Pushed the run's start, which stands
	// for it when the commit's time is not known.
	Committed, Pushed time.Time
	// Started and Finished bound the production phase.
	Started, Finished time.Time
	Succeeded         bool
}

// Rollback is a rollback that made an earlier release live again.
type Rollback struct {
	Project  string
	Pipeline string
	At       time.Time
}

// Keys are a pipeline's four keys over a window.
type Keys struct {
	Project     string    `json:"project,omitempty"`
	Pipeline    string    `json:"pipeline"`
	Environment string    `json:"environment"`
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	// Deployments are the successful releases; PerDay their rate.
	Deployments int     `json:"deployments"`
	PerDay      float64 `json:"deployments_per_day"`
	// LeadTime is the median commit-to-live time of the deployments.
	LeadTime time.Duration `json:"lead_time"`
	// Releases are the releases attempted; Failures those that failed or
	// were rolled back; ChangeFailureRate their ratio.
	Releases          int     `json:"releases"`
	Failures          int     `json:"failures"`
	ChangeFailureRate float64 `json:"change_failure_rate"`
	// TimeToRestore is the median time from a failure to a good release
	// live again.
	TimeToRestore time.Duration `json:"time_to_restore"`
}

// Dora computes the four keys of every pipeline with a release finished
// in [since, until), from its releases and rollbacks.
func Dora(releases []Release, rollbacks []Rollback, since, until time.Time) []Keys {
	type pipeline struct{ project, name string }
	byPipeline := map[pipeline][]Release{}
	for _, r := range releases {
		if !r.Finished.Before(since) && r.Finished.Before(until) {
			p := pipeline{r.Project, r.Pipeline}
			byPipeline[p] = append(byPipeline[p], r)
		}
	}
	var out []Keys
	for p, rs := range byPipeline {
		slices.SortFunc(rs, func(a, b Release) int { return a.Finished.Compare(b.Finished) })
		var backs []time.Time
		for _, rb := range rollbacks {
			if rb.Project == p.project && rb.Pipeline == p.name {
				backs = append(backs, rb.At)
			}
		}
		slices.SortFunc(backs, time.Time.Compare)
		k := Keys{Project: p.project, Pipeline: p.name, Environment: "production", Since: since, Until: until, Releases: len(rs)}
		var leads, restores []time.Duration
		for i, r := range rs {
			if !r.Succeeded {
				k.Failures++
				restores = append(restores, r.Finished.Sub(r.Started))
				continue
			}
			k.Deployments++
			from := r.Committed
			if from.IsZero() {
				from = r.Pushed
			}
			leads = append(leads, r.Finished.Sub(from))
			// rolled back while it was the live release: before the next
			// successful release
			next := time.Time{}
			for _, later := range rs[i+1:] {
				if later.Succeeded {
					next = later.Finished
					break
				}
			}
			for _, at := range backs {
				if at.After(r.Finished) && (next.IsZero() || at.Before(next)) {
					k.Failures++
					restores = append(restores, at.Sub(r.Finished))
					break
				}
			}
		}
		if days := until.Sub(since).Hours() / 24; days > 0 {
			k.PerDay = float64(k.Deployments) / days
		}
		k.ChangeFailureRate = float64(k.Failures) / float64(k.Releases)
		k.LeadTime, k.TimeToRestore = median(leads), median(restores)
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Keys) int {
		return cmp.Or(cmp.Compare(a.Project, b.Project), cmp.Compare(a.Pipeline, b.Pipeline))
	})
	return out
}

// median is the middle duration (the mean of the two middle ones of an
// even count); 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// Dora reads the releases and rollbacks f selects (Project, Projects;
// Since and Before bound the window, Before defaulting to now) and
// computes their four keys.
func (s *Store) Dora(ctx context.Context, f Filter, now time.Time) ([]Keys, error) {
	since, until := f.Since, f.Before
	if until.IsZero() {
		until = now
	}
	conds, args := []string{"r.kind = ?", "e.status IN (?, ?)", "e.finished >= ?", "e.finished < ?"},
		[]any{contract.RecordPipeline, "succeeded", "failed", since.UnixMilli(), until.UnixMilli()}
	conds, args = f.projects("r.", conds, args)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.run_id, r.project, r.pipeline, r.committed, r.started, e.status, e.at, e.finished
		FROM runs r JOIN events e ON e.run_id = r.run_id AND e.key = 'phase:production'
		WHERE `+strings.Join(conds, " AND ")), args...)
	if err != nil {
		return nil, fmt.Errorf("dora: %w", err)
	}
	defer rows.Close()
	var releases []Release
	for rows.Next() {
		var r Release
		var status string
		var committed, pushed, started, finished int64
		if err := rows.Scan(&r.RunID, &r.Project, &r.Pipeline, &committed, &pushed, &status, &started, &finished); err != nil {
			return nil, fmt.Errorf("dora: %w", err)
		}
		r.Committed, r.Pushed, r.Started, r.Finished = fromMillis(committed), fromMillis(pushed), fromMillis(started), fromMillis(finished)
		r.Succeeded = status == "succeeded"
		releases = append(releases, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dora: %w", err)
	}
	conds, args = []string{"r.kind = ?", "r.state = ?", "r.finished >= ?"}, []any{contract.RecordRollback, "succeeded", since.UnixMilli()}
	conds, args = f.projects("r.", conds, args)
	rbRows, err := s.db.QueryContext(ctx, s.q(`SELECT r.project, r.pipeline, r.finished FROM runs r WHERE `+strings.Join(conds, " AND ")), args...)
	if err != nil {
		return nil, fmt.Errorf("dora: %w", err)
	}
	defer rbRows.Close()
	var rollbacks []Rollback
	for rbRows.Next() {
		var rb Rollback
		var at int64
		if err := rbRows.Scan(&rb.Project, &rb.Pipeline, &at); err != nil {
			return nil, fmt.Errorf("dora: %w", err)
		}
		rb.At = fromMillis(at)
		rollbacks = append(rollbacks, rb)
	}
	if err := rbRows.Err(); err != nil {
		return nil, fmt.Errorf("dora: %w", err)
	}
	return Dora(releases, rollbacks, since, until), nil
}
