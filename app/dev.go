package app

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sluice-cd/sluice/devserver"
)

// DevTemporal is how `sluice dev` runs its embedded Temporal.
type DevTemporal struct {
	Host      string
	Port      int
	UIPort    int
	Namespace string
	// Postgres is a postgres:// URL (password in
	// SLUICE_TEMPORAL_DB_PASSWORD); empty: SQLite in the data dir.
	Postgres string
	// LogLevel is the embedded server's own.
	LogLevel slog.Level
}

// StartTemporal starts the embedded Temporal server until Close; the Web
// UI's address becomes the App's UI URL. It also returns where Temporal
// keeps its state, for the banner.
func (a *App) StartTemporal(t DevTemporal) (*devserver.Server, string, error) {
	opts := devserver.Options{
		IP: t.Host, FrontendPort: t.Port, UIPort: t.UIPort, DatabaseFile: filepath.Join(a.dir, "temporal.db"),
		Namespace: t.Namespace, Logger: a.log, LogLevel: t.LogLevel,
	}
	database := opts.DatabaseFile
	if t.Postgres != "" {
		var err error
		if opts.Postgres, err = devserver.ParsePostgresURL(t.Postgres, os.Getenv("SLUICE_TEMPORAL_DB_PASSWORD")); err != nil {
			return nil, "", err
		}
		database = opts.Postgres.String()
	}
	srv, err := devserver.Start(opts)
	if err != nil {
		return nil, "", err
	}
	a.OnClose(srv.Stop)
	if srv.UIAddress != "" {
		a.opts.UIURL = srv.UIAddress
	}
	return srv, database, nil
}
