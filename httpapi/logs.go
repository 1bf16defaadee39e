package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/runs"
)

// writeWindow is how long a followed log may go between writes.
const writeWindow = 30 * time.Second

// endLine starts the last line of every run's log: only the notifier's own
// line ends it; a step printing the marker writes it behind its phase
// prefix ("build | ...").
var endLine = []byte("sluice | " + logstore.EndOfLog)

// logSource gives a run's log as it grows.
type logSource interface {
	// read returns what was written since the last read (none: nothing
	// new yet).
	read(ctx context.Context) ([]byte, error)
	Close() error
}

// fileSource reads a log file in this server's data dir.
type fileSource struct {
	f   *os.File
	buf []byte // reused: the caller copies what a read returns
}

func (s *fileSource) read(context.Context) ([]byte, error) {
	n, err := s.f.Read(s.buf)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return s.buf[:n], err
}

func (s *fileSource) Close() error { return s.f.Close() }

// bucketSource reads the chunks workers shipped to object storage.
type bucketSource struct{ f *logstore.Follower }

func (s bucketSource) read(ctx context.Context) ([]byte, error) {
	data, _, err := s.f.Next(ctx)
	return data, err
}

func (bucketSource) Close() error { return nil }

// logs streams a run's log. With ?follow=1 it keeps the response open and
// sends new lines until the run's last line is written or it has closed.
// The {run} is the Temporal run id; ?workflow= names the workflow so a
// closed run can be recognised. With a log bucket the log is read from
// there, whichever worker wrote it; else from this server's data dir.
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
	if follow && ref.WorkflowID == "" {
		// waiting for a log only makes sense for a run that exists and is not over
		http.Error(w, "following a log needs ?workflow=ID", http.StatusBadRequest)
		return
	}
	// active: waiting for the log to appear makes sense
	active := func() bool {
		_, st, err := s.Runs.Status(r.Context(), ref)
		return err == nil && !runs.Terminal(st.State)
	}
	src, first, err := s.openLog(r.Context(), runID, path, follow, active)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			http.Error(w, "no log for run "+runID+" yet", http.StatusNotFound)
			return
		}
		// the error names the data directory or the bucket: it stays in
		// the server's log
		s.Log.Error("open log", "run", runID, "error", err)
		http.Error(w, "cannot open the run's log; the server's log says why", http.StatusInternalServerError)
		return
	}
	defer src.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	flusher, _ := w.(http.Flusher)
	rc := http.NewResponseController(w)
	lastCheck := time.Now()
	pending := first
	for {
		data, err := src.read(r.Context())
		if err != nil {
			s.Log.Warn("read log", "run", runID, "error", err)
			if !follow {
				return
			}
		}
		pending = append(pending, data...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			line := pending[:i+1]
			if _, werr := w.Write(line); werr != nil {
				return
			}
			if bytes.HasPrefix(line, endLine) {
				return
			}
			pending = pending[i+1:]
		}
		if len(data) > 0 {
			continue // more may be there already
		}
		_ = rc.SetWriteDeadline(time.Now().Add(writeWindow))
		if flusher != nil {
			flusher.Flush()
		}
		if !follow {
			return
		}
		if time.Since(lastCheck) > 2*time.Second {
			lastCheck = time.Now()
			if !active() {
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

// openLog opens a run's log, waiting for it to appear when following a run
// that is active. A log that is not there is os.ErrNotExist. What the
// bucket gave while looking for the log is returned to be sent first.
func (s *Server) openLog(ctx context.Context, runID, path string, follow bool, active func() bool) (logSource, []byte, error) {
	if s.LogBucket != nil {
		f, err := logstore.NewFollower(s.LogBucket, runID)
		if err != nil {
			return nil, nil, err
		}
		data, found, err := f.Next(ctx)
		if err != nil {
			return nil, nil, err
		}
		if !found && (!follow || !active()) {
			return nil, nil, os.ErrNotExist
		}
		return bucketSource{f}, data, nil
	}
	if _, err := os.Stat(path); follow && errors.Is(err, os.ErrNotExist) && !active() {
		return nil, nil, os.ErrNotExist
	}
	for {
		f, err := os.Open(path)
		if err == nil {
			return &fileSource{f: f, buf: make([]byte, 64<<10)}, nil, nil
		}
		if !follow || !errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
