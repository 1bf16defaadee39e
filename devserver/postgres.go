package devserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/lib/pq"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	schematool "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// Postgres is a PostgreSQL server the embedded Temporal server keeps its
// state in, instead of SQLite: the persistence a Temporal cluster runs on in
// production, with the same server code. Two databases are used, Database
// for executions and Database+"_visibility" for the run list; both are made
// and brought to the embedded server's schema version when missing or old.
type Postgres struct {
	Host     string
	Port     int
	User     string
	Password string
	Database string
}

// ParsePostgresURL reads postgres://USER@HOST:PORT/DATABASE. The password
// is not taken from the URL (it would show in the process list): pass it
// separately.
func ParsePostgresURL(raw, password string) (*Postgres, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("temporal database %q: want postgres://USER@HOST:PORT/DATABASE", raw)
	}
	if _, set := u.User.Password(); set {
		return nil, errors.New("temporal database URL: put the password in SLUICE_TEMPORAL_DB_PASSWORD, not in the URL (it would show in the process list)")
	}
	p := &Postgres{Host: u.Hostname(), Port: 5432, User: u.User.Username(), Password: password, Database: strings.TrimPrefix(u.Path, "/")}
	if s := u.Port(); s != "" {
		if p.Port, err = strconv.Atoi(s); err != nil || p.Port <= 0 || p.Port > 65535 {
			return nil, fmt.Errorf("temporal database URL: bad port %q", s)
		}
	}
	if p.Host == "" || p.User == "" || p.Database == "" || strings.Contains(p.Database, "/") {
		return nil, fmt.Errorf("temporal database %q: want postgres://USER@HOST:PORT/DATABASE (user, host and database are required)", raw)
	}
	return p, nil
}

// String names the database without its password.
func (p *Postgres) String() string {
	return fmt.Sprintf("postgres://%s@%s/%s", p.User, net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), p.Database)
}

func (p *Postgres) sql(database string) *config.SQL {
	return &config.SQL{
		PluginName:      postgresql.PluginName,
		ConnectAddr:     net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		ConnectProtocol: "tcp",
		User:            p.User,
		Password:        p.Password,
		DatabaseName:    database,
		// a few connections per store: Sluice's load is small and several
		// processes may share one PostgreSQL
		MaxConns:     10,
		MaxIdleConns: 10,
	}
}

// prepare makes both databases when missing and brings them to the schema
// this server needs; running it again is a no-op.
func (p *Postgres) prepare(logger log.Logger) (store, visibility *config.SQL, err error) {
	store, visibility = p.sql(p.Database), p.sql(p.Database+"_visibility")
	for _, db := range []struct {
		conf   *config.SQL
		schema string
	}{{store, "postgresql/v12/temporal"}, {visibility, "postgresql/v12/visibility"}} {
		if err := ensureDatabase(db.conf, logger); err != nil {
			return nil, nil, err
		}
		conn, err := sqltool.NewConnection(db.conf, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to %s: %w", db.conf.DatabaseName, err)
		}
		err = schematool.NewSetupSchemaTask(conn, &schematool.SetupConfig{InitialVersion: "0.0"}, logger).Run()
		if err == nil {
			err = schematool.NewUpdateSchemaTask(conn, &schematool.UpdateConfig{DBName: db.conf.DatabaseName, SchemaName: db.schema}, logger).Run()
		}
		conn.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("temporal schema in %s: %w", db.conf.DatabaseName, err)
		}
	}
	return store, visibility, nil
}

// ensureDatabase creates conf's database unless it exists, connecting to
// the "postgres" database to do so.
func ensureDatabase(conf *config.SQL, logger log.Logger) error {
	admin := *conf
	admin.DatabaseName = "postgres"
	conn, err := sqltool.NewConnection(&admin, logger)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s as %s: %w", conf.ConnectAddr, conf.User, err)
	}
	defer conn.Close()
	err = conn.CreateDatabase(conf.DatabaseName)
	var pqErr *pq.Error
	switch {
	case err == nil, errors.As(err, &pqErr) && pqErr.Code == "42P04": // duplicate_database
		return nil
	case errors.As(err, &pqErr) && pqErr.Code == "42501": // insufficient_privilege
		return fmt.Errorf("create database %s: %w (give %s CREATEDB, or create the database beforehand)", conf.DatabaseName, err, conf.User)
	}
	return fmt.Errorf("create database %s on %s: %w (is PostgreSQL running there, and may %s log in?)", conf.DatabaseName, conf.ConnectAddr, err, conf.User)
}
