// Package httpapi is Sluice's HTTP server: health, run logs, and the
// entry points (webhooks, chat interactions) mounted by their packages.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"gocloud.dev/blob"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/pool/poolspec"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/runs"
)

// Server serves the API. Mount more handlers on Mux before serving.
type Server struct {
	Runs *runs.Client
	Logs *logstore.Store
	// LogBucket, when set, is the object store the workers ship logs to:
	// logs are read from it, not from Logs.
	LogBucket *blob.Bucket
	Log       *slog.Logger
	Mux       *http.ServeMux
	// FollowPoll is how often a followed log is checked for new lines.
	FollowPoll time.Duration
	// Tokens maps each accepted API bearer token to its client. Every
	// /api/ route needs one.
	Tokens map[string]Client
	// Config is the server's configuration: its repositories, pools and
	// policy, for the runs it is asked to start.
	Config *config.Config
	// Starter starts the runs the API is asked for; New sets Runs.
	Starter RunStarter
	// OIDC, when set, accepts the provider's ID tokens beside Tokens.
	OIDC *OIDC
	// Records are Sluice's own records of runs (nil: the records routes
	// answer 503).
	Records *records.Store
	// Pools reads the configured pools' pods (nil: this server does not
	// reach their cluster, and GET /api/v1/pools answers 503).
	Pools func(context.Context) ([]poolspec.Status, error)
}

// RunStarter starts a built request (runs.Client does).
type RunStarter interface {
	Start(ctx context.Context, req contract.Request) (runs.Started, error)
}

// New returns a server with its routes registered.
func New(rc *runs.Client, logs *logstore.Store, log *slog.Logger) *Server {
	s := &Server{Runs: rc, Logs: logs, Log: log, Mux: http.NewServeMux(), FollowPoll: 200 * time.Millisecond, Starter: rc}
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	s.Mux.HandleFunc("GET /api/v1/login", s.login)
	s.Mux.HandleFunc("GET /api/v1/whoami", s.authenticated(s.whoami))
	s.Mux.HandleFunc("GET /api/v1/logs/{run}", s.authenticated(s.logs))
	s.Mux.HandleFunc("POST /api/v1/decisions", s.authenticated(s.decide))
	s.Mux.HandleFunc("POST /api/v1/runs", s.authenticated(s.startRun))
	s.Mux.HandleFunc("GET /api/v1/status", s.authenticated(s.runStatus))
	s.Mux.HandleFunc("GET /api/v1/records", s.authenticated(s.listRecords))
	s.Mux.HandleFunc("GET /api/v1/records/{run...}", s.authenticated(s.runRecord))
	s.Mux.HandleFunc("GET /api/v1/audit", s.authenticated(s.audit))
	s.Mux.HandleFunc("GET /api/v1/dora", s.authenticated(s.dora))
	s.Mux.HandleFunc("POST /api/v1/schedules", s.authenticated(s.createSchedule))
	s.Mux.HandleFunc("GET /api/v1/schedules", s.authenticated(s.listSchedules))
	s.Mux.HandleFunc("DELETE /api/v1/schedules/{name}", s.authenticated(s.deleteSchedule))
	s.Mux.HandleFunc("POST /api/v1/unfreezes", s.authenticated(s.unfreeze))
	s.Mux.HandleFunc("POST /api/v1/cancellations", s.authenticated(s.cancelRun))
	s.Mux.HandleFunc("POST /api/v1/retries", s.authenticated(s.retryRun))
	s.Mux.HandleFunc("POST /api/v1/rollbacks", s.authenticated(s.rollback))
	s.Mux.HandleFunc("POST /api/v1/pools/{pool}/size", s.authenticated(s.sizePool))
	s.Mux.HandleFunc("GET /api/v1/pools", s.authenticated(s.listPools))
	s.Mux.HandleFunc("POST /api/v1/chaos", s.authenticated(s.startChaos))
	s.Mux.HandleFunc("POST /api/v1/chaos/cancellations", s.authenticated(s.cancelChaos))
	s.Mux.HandleFunc("GET /api/v1/chaos/{id...}", s.authenticated(s.chaosStatus))
	s.Mux.HandleFunc("DELETE /api/v1/chaos/schedules/{name}", s.authenticated(s.unscheduleChaos))
	return s
}

// NewHTTPServer wraps h with the timeouts every Sluice listener uses: slow
// or idle clients cannot hold connections open. Streaming handlers (a
// followed log) extend their own write deadline.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.Mux.ServeHTTP(w, r) }
