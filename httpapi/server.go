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

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/logstore"
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
}

// New returns a server with its routes registered.
func New(rc *runs.Client, logs *logstore.Store, log *slog.Logger) *Server {
	s := &Server{Runs: rc, Logs: logs, Log: log, Mux: http.NewServeMux(), FollowPoll: 200 * time.Millisecond}
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	s.Mux.HandleFunc("GET /api/v1/logs/{run}", s.logs)
	return s
}

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
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	f, err := openWait(r.Context(), path, follow)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			http.Error(w, "no log for run "+runID+" yet", http.StatusNotFound)
			return
		}
		http.Error(w, "open log: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	flusher, _ := w.(http.Flusher)
	rd := bufio.NewReader(f)
	ref := runs.Ref{WorkflowID: r.URL.Query().Get("workflow"), RunID: runID}
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
			if strings.Contains(line, "| "+activities.EndOfLog) {
				return
			}
			continue
		}
		partial += line
		if flusher != nil {
			flusher.Flush()
		}
		if !follow {
			return
		}
		if ref.WorkflowID != "" && time.Since(lastCheck) > 2*time.Second {
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
