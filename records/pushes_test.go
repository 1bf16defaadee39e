package records_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/records"
)

// countingDispatcher dispatches every push it is given, or fails.
type countingDispatcher struct {
	calls int
	err   error
}

func (d *countingDispatcher) Dispatch(_ context.Context, provider string, req contract.Request) (string, bool, error) {
	d.calls++
	if d.err != nil {
		return "", false, d.err
	}
	return "dispatch/" + req.Push.Commit, false, nil
}

// TestPushesOutliveTemporal: a push the records hold is refused without
// reaching Temporal; one Temporal refused to start is not recorded, so
// its redelivery is dispatched.
func TestPushesOutliveTemporal(t *testing.T) {
	ctx := context.Background()
	next := &countingDispatcher{}
	p := &records.Pushes{Store: open(t, filepath.Join(t.TempDir(), "records.db"), ""), Next: next}
	req := contract.Request{Push: contract.Push{Repo: "acme/app", Branch: "main", Commit: "c1"}}
	if id, dup, err := p.Dispatch(ctx, "github", req); err != nil || dup || id != "dispatch/c1" {
		t.Fatalf("first delivery: %q %v %v", id, dup, err)
	}
	again := req
	again.Push.Repo = "ACME/App" // the same repository to the Git host
	if id, dup, err := p.Dispatch(ctx, "github", again); err != nil || !dup || id != "dispatch/c1" || next.calls != 1 {
		t.Fatalf("redelivery: %q duplicate=%v %v, %d dispatches; want the first's id, a duplicate, 1 dispatch", id, dup, err, next.calls)
	}
	if _, dup, err := p.Dispatch(ctx, "gitlab", req); err != nil || dup || next.calls != 2 {
		t.Fatalf("the same commit from another provider: duplicate=%v %v", dup, err)
	}
	next.err = errors.New("temporal unreachable")
	other := contract.Request{Push: contract.Push{Repo: "acme/app", Branch: "main", Commit: "c2"}}
	if _, _, err := p.Dispatch(ctx, "github", other); err == nil {
		t.Fatal("a failed dispatch succeeded")
	}
	next.err = nil
	if _, dup, err := p.Dispatch(ctx, "github", other); err != nil || dup || next.calls != 4 {
		t.Fatalf("redelivery after a failed dispatch: duplicate=%v %v, %d dispatches", dup, err, next.calls)
	}
}

// TestPushKeysOnEveryDatabase: the key of a push, as the server makes it,
// is taken by PostgreSQL (whose text holds no NUL), and a SQLite database
// whose pushes were keyed before schema version 4 still knows them.
func TestPushKeysOnEveryDatabase(t *testing.T) {
	ctx := context.Background()
	push := contract.Push{Repo: "acme/app", Branch: "main", Commit: strings.Repeat("c", 40)}
	key := records.PushKey("github", push)
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			if _, err := s.AcceptPush(ctx, key, "dispatch/1"); err != nil {
				t.Fatal(err)
			}
			if d, seen, err := s.Push(ctx, key); err != nil || !seen || d != "dispatch/1" {
				t.Fatalf("Push = %q, %v, %v", d, seen, err)
			}
		})
	}
	t.Run("sqlite before version 4", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "records.db")
		s := open(t, path, "")
		legacy := strings.ReplaceAll(key, "\n", "\x00")
		if _, err := s.AcceptPush(ctx, legacy, "dispatch/old"); err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`DELETE FROM schema_migrations WHERE version >= 4`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		s = open(t, path, "")
		if d, seen, err := s.Push(ctx, key); err != nil || !seen || d != "dispatch/old" {
			t.Fatalf("a push accepted before version 4: Push = %q, %v, %v", d, seen, err)
		}
	})
}
