// Package httpapi is Sluice's HTTP server: health, run logs, and the
// entry points (webhooks, chat interactions) mounted by their packages.
package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/runs"
)

// Server serves the API. Mount more handlers on Mux before serving.
type Server struct {
	Runs *runs.Client
	Logs *logstore.Store
	Log  *slog.Logger
	Mux  *http.ServeMux
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
	s.Mux.HandleFunc("POST /api/v1/chaos", s.authenticated(s.startChaos))
	s.Mux.HandleFunc("POST /api/v1/chaos/cancellations", s.authenticated(s.cancelChaos))
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

// writeWindow is how long a followed log may go between writes.
const writeWindow = 30 * time.Second

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.Mux.ServeHTTP(w, r) }

// logs streams a run's log. With ?follow=1 it keeps the response open and
// sends new lines until the run's last line is written or it has closed.
// The {run} is the Temporal run id; ?workflow= names the workflow so a
// closed run can be recognised.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	runID := r.PathValue("run")
	path, err := s.Logs.Path(runID)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	follow := r.URL.Query().Get("follow") == "1"
	ref := runs.Ref{WorkflowID: r.URL.Query().Get("workflow"), RunID: runID}
	if s.governed() {
		// a run's log is its project's: the run must be named in full
		if ref.WorkflowID == "" {
			http.Error(w, "this server has projects: name the run's workflow (?workflow=ID)", http.StatusBadRequest)
			return
		}
		if !s.allowOnRun(w, r, ref, access.Logs) {
			return
		}
	}
	if follow {
		// waiting for a log only makes sense for a run that exists and is not over
		if ref.WorkflowID == "" {
			http.Error(w, "following a log needs ?workflow=ID", http.StatusBadRequest)
			return
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if _, st, err := s.Runs.Status(r.Context(), ref); err != nil || runs.Terminal(st.State) {
				http.Error(w, "no log for run "+runID+" and no such active run", http.StatusNotFound)
				return
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	f, err := openWait(r.Context(), path, follow)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			http.Error(w, "no log for run "+runID+" yet", http.StatusNotFound)
			return
		}
		// the error names the data directory: it stays in the server's log
		s.Log.Error("open log", "run", runID, "error", err)
		http.Error(w, "cannot open the run's log; the server's log says why", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	flusher, _ := w.(http.Flusher)
	rc := http.NewResponseController(w)
	rd := bufio.NewReader(f)
	lastCheck := time.Now()
	var partial string
	for {
		line, err := rd.ReadString('\n')
		if err == nil {
			line = partial + line
			partial = ""
			if _, werr := io.WriteString(w, line); werr != nil {
				return
			}
			// only the notifier's own line ends the log: a step printing the
			// marker writes it behind its phase prefix ("build | ...")
			if strings.HasPrefix(line, "sluice | "+logstore.EndOfLog) {
				return
			}
			continue
		}
		_ = rc.SetWriteDeadline(time.Now().Add(writeWindow))
		partial += line
		if flusher != nil {
			flusher.Flush()
		}
		if !follow {
			return
		}
		if time.Since(lastCheck) > 2*time.Second {
			lastCheck = time.Now()
			if _, st, err := s.Runs.Status(r.Context(), ref); err == nil && runs.Terminal(st.State) {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(s.FollowPoll):
		}
	}
}

// openWait opens path, waiting for it to appear when following.
func openWait(ctx context.Context, path string, wait bool) (*os.File, error) {
	for {
		f, err := os.Open(path)
		if err == nil || !wait || !errors.Is(err, os.ErrNotExist) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
