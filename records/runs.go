package records

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// ErrNotFound is a run the records do not hold.
var ErrNotFound = errors.New("no record of that run")

// WriteRun records a run and its events. Writing the same snapshot again
// changes nothing, and a snapshot older than the one recorded (lower
// Seq) does not overwrite it.
func (s *Store) WriteRun(ctx context.Context, r contract.RunRecord) error {
	if r.RunID == "" || r.WorkflowID == "" {
		return errors.New("a run record needs its workflow and run id")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write the record of %s: %w", r.RunID, err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit: nothing to undo
	kind := r.Kind
	if kind == "" {
		kind = contract.RecordPipeline
	}
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO runs (run_id, kind, workflow_id, pipeline, project, repository, branch, commit_sha, author, committed, delivery_id,
			state, phase, error, image, environment, revision, started, finished, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id) DO UPDATE SET state = excluded.state, phase = excluded.phase, error = excluded.error,
			image = excluded.image, environment = excluded.environment, revision = excluded.revision,
			finished = excluded.finished, seq = excluded.seq
		WHERE runs.seq < excluded.seq`),
		r.RunID, kind, r.WorkflowID, r.Pipeline, r.Project, strings.ToLower(r.Repository), r.Branch, r.Commit, r.Author, millis(r.Committed), r.DeliveryID,
		r.State, r.Phase, r.Error, r.Image, r.Environment, r.Revision, millis(r.Started), millis(r.Finished), r.Seq)
	if err != nil {
		return fmt.Errorf("write the record of %s: %w", r.RunID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tx.Commit() // this snapshot or a newer one is recorded
	}
	for _, e := range r.Events {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO events (run_id, key, kind, name, status, actor, via, detail, at, finished)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, detail = excluded.detail,
				at = excluded.at, finished = excluded.finished`),
			r.RunID, e.Key, e.Kind, e.Name, e.Status, e.Actor, e.Via, e.Detail, millis(e.At), millis(e.Finished)); err != nil {
			return fmt.Errorf("write the record of %s: %w", r.RunID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write the record of %s: %w", r.RunID, err)
	}
	return nil
}

// Filter selects runs. Empty fields select everything.
type Filter struct {
	Project, Repository, Branch, State, Environment string
	// Kind selects runs of one kind (contract.RecordPipeline, …).
	Kind string
	// Since selects runs started at or after it.
	Since time.Time
	// Before selects runs started before it (the next page).
	Before time.Time
	// Projects, when not nil, are the only projects the reader may see.
	Projects []string
	// Limit is at most how many runs (default 50, at most 1000).
	Limit int
}

func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) { conds = append(conds, cond); args = append(args, v) }
	if f.Repository != "" {
		add("repository = ?", strings.ToLower(f.Repository))
	}
	if f.Branch != "" {
		add("branch = ?", f.Branch)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if f.Environment != "" {
		add("environment = ?", f.Environment)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if !f.Since.IsZero() {
		add("started >= ?", f.Since.UnixMilli())
	}
	if !f.Before.IsZero() {
		add("started < ?", f.Before.UnixMilli())
	}
	conds, args = f.projects("", conds, args)
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// projects adds the conditions of Project and Projects on the runs
// table, its columns prefixed with prefix.
func (f Filter) projects(prefix string, conds []string, args []any) ([]string, []any) {
	if f.Project != "" {
		conds, args = append(conds, prefix+"project = ?"), append(args, f.Project)
	}
	if f.Projects != nil {
		if len(f.Projects) == 0 {
			return append(conds, "1 = 0"), args
		}
		conds = append(conds, prefix+"project IN (?"+strings.Repeat(", ?", len(f.Projects)-1)+")")
		for _, p := range f.Projects {
			args = append(args, p)
		}
	}
	return conds, args
}

const runColumns = `run_id, kind, workflow_id, pipeline, project, repository, branch, commit_sha, author, committed, delivery_id,
	state, phase, error, image, environment, revision, started, finished, seq`

func scanRun(row interface{ Scan(...any) error }) (contract.RunRecord, error) {
	var r contract.RunRecord
	var committed, started, finished int64
	err := row.Scan(&r.RunID, &r.Kind, &r.WorkflowID, &r.Pipeline, &r.Project, &r.Repository, &r.Branch, &r.Commit, &r.Author, &committed, &r.DeliveryID,
		&r.State, &r.Phase, &r.Error, &r.Image, &r.Environment, &r.Revision, &started, &finished, &r.Seq)
	r.Committed, r.Started, r.Finished = fromMillis(committed), fromMillis(started), fromMillis(finished)
	return r, err
}

// List returns the runs f selects, newest first, without their events.
func (s *Store) List(ctx context.Context, f Filter) ([]contract.RunRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 1000)
	where, args := f.where()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+runColumns+` FROM runs`+where+` ORDER BY started DESC, run_id DESC LIMIT ?`), append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []contract.RunRecord
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Run returns a run's record with its events in the order they happened.
// id is a run id, WORKFLOW_ID@RUN_ID, or a workflow id (its newest run).
func (s *Store) Run(ctx context.Context, id string) (contract.RunRecord, error) {
	query, arg := `SELECT `+runColumns+` FROM runs WHERE run_id = ?`, id
	if _, run, ok := strings.Cut(id, "@"); ok && run != "" {
		arg = run
	} else if strings.Contains(id, "/") {
		query = `SELECT ` + runColumns + ` FROM runs WHERE workflow_id = ? ORDER BY started DESC LIMIT 1`
	}
	r, err := scanRun(s.db.QueryRowContext(ctx, s.q(query), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w %s", ErrNotFound, id)
	}
	if err != nil {
		return r, fmt.Errorf("read the record of %s: %w", id, err)
	}
	r.Events, err = s.events(ctx, `WHERE run_id = ?`, r.RunID)
	return r, err
}

func (s *Store) events(ctx context.Context, where string, args ...any) ([]contract.RecordEvent, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT key, kind, name, status, actor, via, detail, at, finished FROM events `+where+` ORDER BY at, key`), args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []contract.RecordEvent
	for rows.Next() {
		var e contract.RecordEvent
		var at, finished int64
		if err := rows.Scan(&e.Key, &e.Kind, &e.Name, &e.Status, &e.Actor, &e.Via, &e.Detail, &at, &finished); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e.At, e.Finished = fromMillis(at), fromMillis(finished)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditEntry is a decision or refusal with the run it was about.
type AuditEntry struct {
	contract.RecordEvent
	RunID      string `json:"run_id"`
	WorkflowID string `json:"workflow_id"`
	Project    string `json:"project,omitempty"`
	Commit     string `json:"commit"`
}

// Audit returns the decisions, refusals, withheld and skipped phases of the runs f
// selects (Since and Before bound the event's time), oldest first.
func (s *Store) Audit(ctx context.Context, f Filter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 200
	}
	f.Limit = min(f.Limit, 5000)
	since, before := f.Since, f.Before
	f.Since, f.Before = time.Time{}, time.Time{}
	where, args := f.where()
	conds := []string{"e.kind IN (?, ?, ?, ?, ?, ?)"}
	args = append([]any{contract.EventApproval, contract.EventRejected, contract.EventRefusal, contract.EventWithheld, contract.EventSkipped, contract.EventOverride}, args...)
	if where != "" {
		conds = append(conds, strings.TrimPrefix(where, " WHERE "))
	}
	if !since.IsZero() {
		conds, args = append(conds, "e.at >= ?"), append(args, since.UnixMilli())
	}
	if !before.IsZero() {
		conds, args = append(conds, "e.at < ?"), append(args, before.UnixMilli())
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT e.key, e.kind, e.name, e.status, e.actor, e.via, e.detail, e.at, e.finished,
			r.run_id, r.workflow_id, r.project, r.commit_sha
		FROM events e JOIN runs r ON r.run_id = e.run_id WHERE `+strings.Join(conds, " AND ")+` ORDER BY e.at, e.key LIMIT ?`), append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var a AuditEntry
		var at, finished int64
		if err := rows.Scan(&a.Key, &a.Kind, &a.Name, &a.Status, &a.Actor, &a.Via, &a.Detail, &at, &finished,
			&a.RunID, &a.WorkflowID, &a.Project, &a.Commit); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		a.At, a.Finished = fromMillis(at), fromMillis(finished)
		out = append(out, a)
	}
	return out, rows.Err()
}

// AcceptPush records a push the server accepted under key (provider,
// repository, branch, commit) and the dispatch that carries it. It
// reports whether the push was recorded before: a redelivery or a replay.
func (s *Store) AcceptPush(ctx context.Context, key, dispatch string) (seen bool, err error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO pushes (key, dispatch, at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`),
		key, dispatch, time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("record the push: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 0, err
}

// Push is the dispatch a push was accepted with under key, if it was.
func (s *Store) Push(ctx context.Context, key string) (dispatch string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT dispatch FROM pushes WHERE key = ?`), key).Scan(&dispatch)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up the push: %w", err)
	}
	return dispatch, true, nil
}

// Prune deletes the runs that finished before cutoff, their events, and
// the pushes accepted before it. Runs still going are kept.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	c := cutoff.UnixMilli()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }() // after Commit: nothing to undo
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM events WHERE run_id IN (SELECT run_id FROM runs WHERE finished > 0 AND finished < ?)`), c); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM runs WHERE finished > 0 AND finished < ?`), c)
	if err != nil {
		return 0, fmt.Errorf("prune runs: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM pushes WHERE at < ?`), c); err != nil {
		return 0, fmt.Errorf("prune pushes: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, tx.Commit()
}

// FirstSeen records key (a signed request's signature) and reports
// whether it was not recorded in the window before now: a request seen
// again within it is a replay, whichever server it reaches. One statement
// decides, so concurrent servers let exactly one through; keys past the
// window are deleted on the way.
func (s *Store) FirstSeen(ctx context.Context, key string, now time.Time, window time.Duration) (bool, error) {
	cutoff := now.Add(-window).UnixMilli()
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO replays (key, at) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET at = excluded.at WHERE replays.at < ?`), key, now.UnixMilli(), cutoff)
	if err != nil {
		return false, fmt.Errorf("replay record: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("replay record: %w", err)
	}
	// housekeeping: a failure here decides nothing
	_, _ = s.db.ExecContext(ctx, s.q(`DELETE FROM replays WHERE at < ?`), cutoff)
	return n == 1, nil
}
