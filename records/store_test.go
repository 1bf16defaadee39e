package records_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/devserver"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/testenv/pgtest"
)

// backends opens a fresh store on each real database: a SQLite file and a
// PostgreSQL server started for the test.
func backends(t *testing.T) map[string]func(t *testing.T) *records.Store {
	return map[string]func(t *testing.T) *records.Store{
		"sqlite": func(t *testing.T) *records.Store {
			return open(t, filepath.Join(t.TempDir(), "records.db"), "")
		},
		"postgres": func(t *testing.T) *records.Store {
			pg := pgtest.Start(t)
			return open(t, pg.URL("postgres"), pg.Password)
		},
	}
}

func open(t testing.TB, dsn, password string) *records.Store {
	t.Helper()
	s, err := records.Open(context.Background(), dsn, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func run(id string, seq int, state string, at time.Time) contract.RunRecord {
	return contract.RunRecord{
		WorkflowID: "pipeline/acme/app:main", RunID: id, Project: "payments", Repository: "Acme/App", Branch: "main",
		Commit: "c-" + id, Author: "carol", State: state, Started: at, Seq: seq,
		Events: []contract.RecordEvent{{Key: "phase:build", Kind: contract.EventPhase, Name: "build", Status: "running", At: at}},
	}
}

func TestRunRecords(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			started := run("r1", 1, "running", t0)
			if err := s.WriteRun(ctx, started); err != nil {
				t.Fatal(err)
			}
			done := run("r1", 2, "succeeded", t0)
			done.Finished, done.Environment, done.Image = t0.Add(time.Minute), "production", "reg/app@sha256:1"
			done.Events = []contract.RecordEvent{
				{Key: "phase:build", Kind: contract.EventPhase, Name: "build", Status: "succeeded", At: t0, Finished: t0.Add(10 * time.Second)},
				{Key: "refusal:0", Kind: contract.EventRefusal, Actor: "carol", Via: "slack", Detail: "the author may not approve", At: t0.Add(20 * time.Second)},
				{Key: "approval:0", Kind: contract.EventApproval, Actor: "alice", Via: "api-token:alice", Detail: "ship it", At: t0.Add(30 * time.Second)},
			}
			// the final snapshot, written twice (a retried activity), then
			// the first one again (a late retry of it)
			for _, r := range []contract.RunRecord{done, done, started} {
				if err := s.WriteRun(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Run(ctx, "r1")
			if err != nil {
				t.Fatal(err)
			}
			if got.State != "succeeded" || got.Seq != 2 || !got.Finished.Equal(done.Finished) || got.Repository != "acme/app" || got.Image != done.Image {
				t.Errorf("record = %+v, want the final snapshot (repository case-folded)", got)
			}
			if len(got.Events) != 3 || got.Events[0].Status != "succeeded" || got.Events[2].Actor != "alice" || got.Events[2].Via != "api-token:alice" {
				t.Errorf("events = %+v, want build succeeded, carol's refusal, alice's approval, once each", got.Events)
			}
			for _, id := range []string{"pipeline/acme/app:main@r1", "pipeline/acme/app:main"} {
				if r, err := s.Run(ctx, id); err != nil || r.RunID != "r1" {
					t.Errorf("Run(%q) = %s, %v; want r1", id, r.RunID, err)
				}
			}
			if _, err := s.Run(ctx, "nope"); !errors.Is(err, records.ErrNotFound) {
				t.Errorf("Run of an unknown run: %v, want ErrNotFound", err)
			}

			audit, err := s.Audit(ctx, records.Filter{Project: "payments"})
			if err != nil {
				t.Fatal(err)
			}
			if len(audit) != 2 || audit[0].Kind != contract.EventRefusal || audit[1].Actor != "alice" || audit[1].Commit != "c-r1" {
				t.Errorf("audit = %+v, want the refusal then the approval, with their run", audit)
			}
		})
	}
}

func TestListFilters(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			for i := range 6 {
				r := run(fmt.Sprint("r", i), 1, []string{"succeeded", "failed"}[i%2], t0.Add(time.Duration(i)*time.Hour))
				if i >= 4 {
					r.Project, r.Repository, r.Branch = "search", "acme/search", "dev"
				}
				if i == 2 {
					r.Environment = "production"
				}
				if i == 3 {
					r.Kind = contract.RecordChaos
				}
				if err := s.WriteRun(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			ids := func(f records.Filter) string {
				got, err := s.List(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, r := range got {
					out = append(out, r.RunID)
				}
				return strings.Join(out, ",")
			}
			for _, c := range []struct {
				f    records.Filter
				want string
			}{
				{records.Filter{}, "r5,r4,r3,r2,r1,r0"},
				{records.Filter{Limit: 2}, "r5,r4"},
				{records.Filter{Before: t0.Add(4 * time.Hour), Limit: 2}, "r3,r2"},
				{records.Filter{Project: "search"}, "r5,r4"},
				{records.Filter{Repository: "ACME/APP"}, "r3,r2,r1,r0"},
				{records.Filter{Branch: "dev"}, "r5,r4"},
				{records.Filter{State: "failed"}, "r5,r3,r1"},
				{records.Filter{Environment: "production"}, "r2"},
				{records.Filter{Kind: contract.RecordChaos}, "r3"},
				{records.Filter{Since: t0.Add(3 * time.Hour)}, "r5,r4,r3"},
				{records.Filter{Projects: []string{"search"}}, "r5,r4"},
				{records.Filter{Projects: []string{}}, ""},
			} {
				if got := ids(c.f); got != c.want {
					t.Errorf("List(%+v) = %q, want %q", c.f, got, c.want)
				}
			}
			n, err := s.Prune(ctx, t0.Add(2*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			// r0..r5 never finished: nothing to prune
			if n != 0 {
				t.Errorf("pruned %d runs still going", n)
			}
			for i := range 6 {
				r := run(fmt.Sprint("r", i), 2, "succeeded", t0.Add(time.Duration(i)*time.Hour))
				r.Finished = r.Started.Add(time.Minute)
				if err := s.WriteRun(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if n, err = s.Prune(ctx, t0.Add(2*time.Hour)); err != nil || n != 2 {
				t.Errorf("pruned %d, %v; want the 2 runs that finished before the cutoff", n, err)
			}
			if got := ids(records.Filter{}); got != "r5,r4,r3,r2" {
				t.Errorf("after pruning: %q", got)
			}
		})
	}
}

// TestPushes: a push is accepted once, whoever delivers it and however
// often, at once.
func TestPushes(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			var wg sync.WaitGroup
			var mu sync.Mutex
			first := 0
			for range 8 {
				wg.Go(func() {
					seen, err := s.AcceptPush(ctx, "github/acme/app/main/c1", "dispatch/x")
					if err != nil {
						t.Error(err)
						return
					}
					if !seen {
						mu.Lock()
						first++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if first != 1 {
				t.Errorf("%d deliveries were first, want 1", first)
			}
			if d, seen, err := s.Push(ctx, "github/acme/app/main/c1"); err != nil || !seen || d != "dispatch/x" {
				t.Errorf("Push = %q, %v, %v", d, seen, err)
			}
			if _, seen, err := s.Push(ctx, "github/acme/app/main/c2"); err != nil || seen {
				t.Errorf("Push of another commit = %v, %v", seen, err)
			}
		})
	}
}

// TestMigrationsOnce: servers starting at once on one database apply the
// schema once, and a database newer than this sluice is refused.
func TestMigrationsOnce(t *testing.T) {
	pg := pgtest.Start(t)
	for name, dsn := range map[string][2]string{
		"postgres": {pg.URL("postgres"), pg.Password},
		// a server and a worker starting together on one data dir
		"sqlite": {filepath.Join(t.TempDir(), "records.db"), ""},
	} {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					s, err := records.Open(context.Background(), dsn[0], dsn[1])
					if err != nil {
						t.Error(err)
						return
					}
					s.Close()
				})
			}
			wg.Wait()
			s := open(t, dsn[0], dsn[1])
			if err := s.WriteRun(context.Background(), run("r", 1, "running", t0)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUnreachable: a database that is not there is refused at Open, named,
// without its password.
func TestUnreachable(t *testing.T) {
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "postgres://sluice@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/records"
	_, err = records.Open(context.Background(), url, "hunter2")
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open of a closed port: %v; want an error naming the database, without the password", err)
	}
	_, err = records.Open(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir", "records.db"), "")
	if err == nil {
		t.Error("Open of a SQLite file in a missing directory succeeded")
	}
}
