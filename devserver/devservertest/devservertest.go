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

// Start runs a fresh server and returns a connected client.
func Start(tb testing.TB) client.Client {
	tb.Helper()
	return dial(tb, Server(tb).Address)
}

// Server runs a fresh server, stopped at cleanup: for tests that hand its
// address to other processes.
func Server(tb testing.TB) *devserver.Server {
	tb.Helper()
	srv, err := serve(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Stop)
	return srv
}

// serve starts a server on a free port keeping its state in dir. A file:
// shared-cache in-memory SQLite serialises on table locks and makes every
// workflow step several times slower.
func serve(dir string) (*devserver.Server, error) {
	port, err := devserver.FreePort()
	if err != nil {
		return nil, err
	}
	return devserver.Start(devserver.Options{FrontendPort: port, UIPort: -1, DatabaseFile: filepath.Join(dir, "temporal.db")})
}

// dial connects to the server at addr (namespace "default") until cleanup.
func dial(tb testing.TB, addr string) client.Client {
	tb.Helper()
	c, err := client.Dial(client.Options{HostPort: addr, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// quiet logs only the SDK's errors.
var quiet = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
