// Package devservertest starts the embedded Temporal server for tests: one
// per test (or benchmark), on free ports and a temp database, stopped at cleanup.
package devservertest

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/sluice-cd/sluice/devserver"
)

// Start runs a fresh in-memory server and returns a connected client.
func Start(tb testing.TB) client.Client {
	tb.Helper()
	port, err := devserver.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	// A file in a temp dir: shared-cache in-memory SQLite serialises on
	// table locks and makes every workflow step several times slower.
	srv, err := devserver.Start(devserver.Options{FrontendPort: port, UIPort: -1, DatabaseFile: filepath.Join(tb.TempDir(), "temporal.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// quiet logs only the SDK's errors.
var quiet = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
