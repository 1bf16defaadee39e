package devserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/devserver"
	"github.com/sluice-cd/sluice/testenv/pgtest"
)

func TestParsePostgresURL(t *testing.T) {
	p, err := devserver.ParsePostgresURL("postgres://temporal@db.example:6543/sluice", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if p.Host != "db.example" || p.Port != 6543 || p.User != "temporal" || p.Database != "sluice" || p.Password != "s3cret" {
		t.Fatalf("parsed %+v", p)
	}
	if strings.Contains(p.String(), "s3cret") {
		t.Fatalf("String() shows the password: %s", p)
	}
	if p, err := devserver.ParsePostgresURL("postgresql://u@h/d", ""); err != nil || p.Port != 5432 {
		t.Fatalf("default port: %+v %v", p, err)
	}
	for raw, want := range map[string]string{
		"postgres://u:pw@h:5432/d": "SLUICE_TEMPORAL_DB_PASSWORD",
		"mysql://u@h/d":            "postgres://USER@HOST:PORT/DATABASE",
		"postgres://h:5432/d":      "required",
		"postgres://u@h:5432/":     "required",
		"postgres://u@h:99999/d":   "bad port",
	} {
		if _, err := devserver.ParsePostgresURL(raw, ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", raw, err, want)
		}
	}
}

func hello(ctx workflow.Context, name string) (string, error) { return "hello " + name, nil }

// TestServerOnPostgres runs the embedded server on a real PostgreSQL: the
// databases and schema are made on first start, a workflow runs, and after
// a restart on the same databases the server still knows it.
func TestServerOnPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	db, err := devserver.ParsePostgresURL(pg.URL("temporal"), pg.Password)
	if err != nil {
		t.Fatal(err)
	}
	start := func() (*devserver.Server, client.Client) {
		port, err := devserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		srv, err := devserver.Start(devserver.Options{FrontendPort: port, UIPort: -1, Postgres: db})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace})
		if err != nil {
			srv.Stop()
			t.Fatal(err)
		}
		return srv, c
	}
	srv, c := start()
	w := worker.New(c, "pg", worker.Options{})
	w.RegisterWorkflow(hello)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "pg-hello", TaskQueue: "pg"}, hello, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello postgres" {
		t.Fatalf("workflow: %q %v", got, err)
	}
	w.Stop()
	c.Close()
	srv.Stop()

	srv, c = start() // the schema is there: prepare is a no-op now
	defer srv.Stop()
	defer c.Close()
	d, err := c.DescribeWorkflowExecution(ctx, "pg-hello", run.GetRunID())
	if err != nil {
		t.Fatalf("after restart the server lost the run: %v", err)
	}
	if s := d.GetWorkflowExecutionInfo().GetStatus().String(); s != "Completed" {
		t.Fatalf("run status after restart: %s", s)
	}
}

// TestPostgresUnreachable says where it tried and what to check.
func TestPostgresUnreachable(t *testing.T) {
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	db := &devserver.Postgres{Host: "127.0.0.1", Port: port, User: "temporal", Database: "temporal"}
	_, err = devserver.Start(devserver.Options{FrontendPort: port, UIPort: -1, Postgres: db})
	if err == nil || !strings.Contains(err.Error(), "is PostgreSQL running there") {
		t.Fatalf("error %v, want one naming the address and what to check", err)
	}
}

// TestSQLiteIsWriteAheadLogged: the dev server's SQLite file runs in WAL
// mode. Temporal's SQLite plugin passes every connect attribute it does not
// know as a pragma of exactly that name, and SQLite ignores pragmas it does
// not know, so a misspelt attribute ("_journal_mode") silently leaves the
// database in rollback-journal mode, an fsync-heavy commit per task.
func TestSQLiteIsWriteAheadLogged(t *testing.T) {
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "temporal.db")
	srv, err := devserver.Start(devserver.Options{FrontendPort: port, UIPort: -1, DatabaseFile: db})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if _, err := os.Stat(db + "-wal"); err != nil {
		t.Fatalf("no write-ahead log beside %s: %v", db, err)
	}
}
