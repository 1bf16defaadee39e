package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

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
	// Auth makes the frontend speak TLS and refuse every client without
	// an API key signed by the data dir's key (see DevTemporalServer).
	Auth bool
	// Retention is how long Temporal keeps a closed run's history
	// (0: its default, 24 h). Sluice's records keep what happened beyond.
	Retention time.Duration
	// NoArchive turns history archival off; on, a closed run's history is
	// kept in DATA_DIR/temporal-archive after its retention, and read
	// from there.
	NoArchive bool
	// LogLevel is the embedded server's own.
	LogLevel slog.Level
}

// DevTemporalServer is the running embedded Temporal and how to reach it.
type DevTemporalServer struct {
	*devserver.Server
	// Database is where Temporal keeps its state, for the banner.
	Database string
	// CAFile and APIKeyFile, with Auth, are what a client needs: the CA
	// that signed the frontend's certificate, and an API key that may
	// read and write the namespace (workers, the HTTP server, the CLI).
	CAFile, APIKeyFile string
}

// Files of the data dir for an embedded Temporal with authorization.
const (
	temporalKeyFile    = "temporal-auth.key" // signs API keys
	TemporalAPIKeyFile = "temporal-api-key"  // a writer's API key, made anew at each start
	temporalTLSDir     = "temporal-tls"      // the frontend's CA and certificate
)

// apiKeyTTL is how long the API key written at start is valid.
const apiKeyTTL = 90 * 24 * time.Hour

// StartTemporal starts the embedded Temporal server until Close; the Web
// UI's address becomes the App's UI URL.
func (a *App) StartTemporal(t DevTemporal) (*DevTemporalServer, error) {
	opts := devserver.Options{
		IP: t.Host, FrontendPort: t.Port, UIPort: t.UIPort, DatabaseFile: filepath.Join(a.dir, "temporal.db"),
		Namespace: t.Namespace, Logger: a.log, LogLevel: t.LogLevel, Retention: t.Retention,
	}
	if !t.NoArchive {
		opts.ArchiveDir = filepath.Join(a.dir, "temporal-archive")
	}
	out := &DevTemporalServer{Database: opts.DatabaseFile}
	if t.Postgres != "" {
		var err error
		if opts.Postgres, err = devserver.ParsePostgresURL(t.Postgres, os.Getenv("SLUICE_TEMPORAL_DB_PASSWORD")); err != nil {
			return nil, err
		}
		out.Database = opts.Postgres.String()
	}
	if t.Auth {
		if err := a.temporalAuth(&opts, out); err != nil {
			return nil, err
		}
	}
	srv, err := devserver.Start(opts)
	if err != nil {
		return nil, err
	}
	out.Server = srv
	a.OnClose(srv.Stop)
	a.controlPorts = append(a.controlPorts, srv.Ports()...)
	if srv.UIAddress != "" {
		a.opts.UIURL = srv.UIAddress
	}
	return out, nil
}

// temporalAuth turns on the frontend's TLS and authorization: API keys
// are ES256 tokens signed by the data dir's key. It writes a writer's API
// key for this process and the workers; the Web UI gets a reader's, so it
// shows runs but cannot change them.
func (a *App) temporalAuth(opts *devserver.Options, out *DevTemporalServer) error {
	key, err := loadOrCreateECKey(filepath.Join(a.dir, temporalKeyFile))
	if err != nil {
		return fmt.Errorf("temporal API key signing key: %w", err)
	}
	if opts.TLS, err = devserver.EnsureTLS(filepath.Join(a.dir, temporalTLSDir), opts.IP); err != nil {
		return fmt.Errorf("temporal TLS: %w", err)
	}
	ns := opts.Namespace
	opts.Auth = &devserver.Auth{Key: &key.PublicKey, UIToken: func() (string, error) {
		return devserver.SignAPIKey(key, "temporal-ui", ns, "read", 5*time.Minute)
	}}
	apiKey, err := devserver.SignAPIKey(key, "sluice", ns, "write", apiKeyTTL)
	if err != nil {
		return err
	}
	out.APIKeyFile = filepath.Join(a.dir, TemporalAPIKeyFile)
	if err := os.WriteFile(out.APIKeyFile, []byte(apiKey+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the temporal API key: %w", err)
	}
	out.CAFile = opts.TLS.RootCAFile
	return nil
}

// loadOrCreateECKey reads the ECDSA P-256 key in path, making it (0600)
// when there is none.
func loadOrCreateECKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, err
		}
		return key, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM key (delete it to make a new one; API keys it signed stop working)", path)
	}
	return x509.ParseECPrivateKey(block.Bytes)
}
