// Package records is Sluice's own durable record of what happened: every
// pipeline run with its phases and decisions, and every push the server
// accepted. Temporal forgets a closed run after its namespace's retention;
// the records keep it, for `sluice list`, `sluice history`, `sluice audit`
// and the refusal of a push delivered again months later.
//
// The store is a SQL database: SQLite in a file for `sluice dev` and a
// single machine, PostgreSQL when servers and workers run on several.
// Writes are idempotent (a retried activity writes once), and the schema
// is versioned by numbered migrations applied at Open.
package records

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Store is an open records database. It is safe for concurrent use.
type Store struct {
	db       *sql.DB
	postgres bool
	// where names the database in errors, without a password.
	where string
}

// Open opens (creating it if needed) the records database at dsn and
// brings its schema up to date. dsn is a postgres:// URL (its password,
// if not in the URL, from password) or a SQLite file path (optionally
// sqlite://PATH). A database that cannot be reached is an error that
// names it.
func Open(ctx context.Context, dsn, password string) (*Store, error) {
	s, err := open(dsn, password)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.db.PingContext(pctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("records database %s is unreachable: %w (check the address and that the server is up)", s.where, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("records database %s: %w", s.where, err)
	}
	return s, nil
}

func open(dsn, password string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("records database URL: %w", redact(err, password))
		}
		if cfg.Password == "" {
			cfg.Password = password
		}
		u, _ := url.Parse(dsn)
		where := dsn
		if u != nil {
			where = u.Redacted()
		}
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(8)
		return &Store{db: db, postgres: true, where: where}, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite://")
	if path == "" {
		return nil, errors.New("records database: no address (a SQLite file or a postgres:// URL)")
	}
	// transactions take the write lock as they begin (_txlock=immediate):
	// one that read first and wrote later would fail at once, without
	// waiting, when another process wrote in between (two processes
	// starting together on one data dir, migrating)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	// one writer at a time; WAL readers do not wait for it
	db.SetMaxOpenConns(4)
	return &Store{db: db, where: path}, nil
}

// redact keeps a password out of an error.
func redact(err error, password string) error {
	if password == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "***"))
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// String names the database (without a password).
func (s *Store) String() string { return s.where }

// q rewrites a query's ? placeholders as PostgreSQL's $n.
func (s *Store) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// migrations are the schema's versions, applied in order, each once. Never
// change one that has shipped: add the next.
var migrations = []string{
	// 1: runs, their events, accepted pushes
	`CREATE TABLE runs (
		run_id      TEXT PRIMARY KEY,
		kind        TEXT NOT NULL DEFAULT 'pipeline',
		workflow_id TEXT NOT NULL,
		pipeline    TEXT NOT NULL DEFAULT '',
		project     TEXT NOT NULL DEFAULT '',
		repository  TEXT NOT NULL,
		branch      TEXT NOT NULL,
		commit_sha  TEXT NOT NULL,
		author      TEXT NOT NULL DEFAULT '',
		committed   BIGINT NOT NULL DEFAULT 0,
		delivery_id TEXT NOT NULL DEFAULT '',
		state       TEXT NOT NULL,
		phase       TEXT NOT NULL DEFAULT '',
		error       TEXT NOT NULL DEFAULT '',
		image       TEXT NOT NULL DEFAULT '',
		environment TEXT NOT NULL DEFAULT '',
		revision    TEXT NOT NULL DEFAULT '',
		started     BIGINT NOT NULL,
		finished    BIGINT NOT NULL DEFAULT 0,
		seq         INTEGER NOT NULL
	);
	CREATE INDEX runs_started ON runs (started);
	CREATE INDEX runs_repository ON runs (repository, started);
	CREATE INDEX runs_project ON runs (project, started);
	CREATE INDEX runs_pipeline ON runs (pipeline, started);
	CREATE TABLE events (
		run_id   TEXT NOT NULL,
		key      TEXT NOT NULL,
		kind     TEXT NOT NULL,
		name     TEXT NOT NULL DEFAULT '',
		status   TEXT NOT NULL DEFAULT '',
		actor    TEXT NOT NULL DEFAULT '',
		via      TEXT NOT NULL DEFAULT '',
		detail   TEXT NOT NULL DEFAULT '',
		at       BIGINT NOT NULL DEFAULT 0,
		finished BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (run_id, key)
	);
	CREATE INDEX events_at ON events (at);
	CREATE TABLE pushes (
		key      TEXT PRIMARY KEY,
		dispatch TEXT NOT NULL,
		at       BIGINT NOT NULL
	);
	CREATE INDEX pushes_at ON pushes (at);`,
	// 2: signatures of handled chat requests, for the replay window
	`CREATE TABLE replays (
		key TEXT PRIMARY KEY,
		at  BIGINT NOT NULL
	);
	CREATE INDEX replays_at ON replays (at);`,
	// 3: what the DORA figures read at every scrape, without a scan: the
	// production phases that finished in a window, and the rollbacks
	`CREATE INDEX events_key_finished ON events (key, finished);
	CREATE INDEX runs_kind_finished ON runs (kind, finished);`,
	// 4: accepted pushes' keys are joined by newlines, not NULs, which
	// PostgreSQL refuses (sqliteMigrations rewrites SQLite's)
	``,
}

// sqliteMigrations are the parts of a migration that only SQLite's
// databases need, run in its transaction.
var sqliteMigrations = map[int]func(ctx context.Context, tx *sql.Tx) error{
	4: func(ctx context.Context, tx *sql.Tx) error {
		// SQLite's string functions end at a NUL: rewrite the keys here
		rows, err := tx.QueryContext(ctx, `SELECT key FROM pushes`)
		if err != nil {
			return err
		}
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			if strings.Contains(k, "\x00") {
				keys = append(keys, k)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `UPDATE pushes SET key = ? WHERE key = ?`, strings.ReplaceAll(k, "\x00", "\n"), k); err != nil {
				return err
			}
		}
		return nil
	},
}

// migrationLock is the PostgreSQL advisory lock servers starting at once
// take around migrating, so each migration is applied once.
const migrationLock = 0x736c7563 // "sluc"

// migrate applies the migrations the database has not seen, each in a
// transaction with its version.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if s.postgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("schema lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck // the session's end frees it too
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	var have int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this sluice knows (%d): upgrade sluice", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if err := s.apply(ctx, conn, v); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, conn *sql.Conn, version int) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after Commit: nothing to undo
	// another process may have applied it since we looked (SQLite has no
	// advisory lock; its write lock is taken as the transaction begins)
	var done int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version).Scan(&done); err != nil {
		return err
	}
	if done > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`), version, time.Now().UnixMilli()); err != nil {
		return err
	}
	if f := sqliteMigrations[version]; f != nil && !s.postgres {
		if err := f(ctx, tx); err != nil {
			return err
		}
	}
	for _, stmt := range strings.Split(migrations[version-1], ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
