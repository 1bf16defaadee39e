package console

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/runs"
)

// lineWriter is the http.ResponseWriter the API's log handler writes a
// log to when the console reads it: it hands each whole line to line (an
// error stops the handler) and tells caughtUp when the handler has sent
// everything written so far (its Flush).
type lineWriter struct {
	header   http.Header
	code     int
	pending  []byte
	line     func([]byte) error
	caughtUp func()
}

func (l *lineWriter) Header() http.Header { return l.header }
func (l *lineWriter) WriteHeader(code int) {
	if l.code == 0 {
		l.code = code
	}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.WriteHeader(http.StatusOK)
	if l.code != http.StatusOK {
		l.pending = append(l.pending, p...) // the API's message
		return len(p), nil
	}
	l.pending = append(l.pending, p...)
	for {
		i := bytes.IndexByte(l.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		err := l.line(l.pending[:i])
		l.pending = l.pending[i+1:]
		if err != nil {
			return len(p), err
		}
	}
}

func (l *lineWriter) Flush() {
	if l.caughtUp != nil {
		l.caughtUp()
	}
}

// logPath is the API's path of ref's log.
func logPath(ref runs.Ref, follow bool) string {
	q := url.Values{"workflow": {ref.WorkflowID}}
	if follow {
		q.Set("follow", "1")
	}
	return "/api/v1/logs/" + url.PathEscape(ref.RunID) + "?" + q.Encode()
}

// readLog runs the API's log handler for ref with the session's
// credential, writing to lw.
func (c *Console) readLog(ctx context.Context, token string, ref runs.Ref, follow bool, lw *lineWriter) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, logPath(ref, follow), nil)
	if err != nil {
		lw.WriteHeader(http.StatusBadRequest)
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	c.API.ServeHTTP(lw, req)
}

// logPage shows one page of a run's log (no script needed): page 1 is its
// first LogPage lines. A log of any size is read through, never held or
// sent whole.
type logView struct {
	ID         string
	Page       int
	First      int
	Lines      []string
	Prev, Next string
	Problem    string
}

func (c *Console) logPage(w http.ResponseWriter, r *request) {
	id := r.URL.Query().Get("id")
	ref, err := runs.ParseRef(id)
	if err != nil || ref.RunID == "" {
		c.message(w, http.StatusNotFound, "No such run", "There is no run "+strconv.Quote(id)+": name it as the runs page does.")
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	from, to := (page-1)*c.LogPage, page*c.LogPage
	v := logView{ID: id, Page: page, First: from + 1}
	n := 0
	lw := &lineWriter{header: http.Header{}, line: func(b []byte) error {
		n++
		if n > to {
			return errStop
		}
		if n > from {
			v.Lines = append(v.Lines, string(b))
		}
		return nil
	}}
	c.readLog(r.Context(), r.s.token, ref, false, lw)
	switch {
	case lw.code == http.StatusNotFound && len(lw.pending) > 0 && strings.Contains(string(lw.pending), "no log"):
		v.Problem = "This run has no log yet."
	case lw.code != 0 && lw.code != http.StatusOK:
		c.apiProblem(w, answer{code: lw.code, body: lw.pending}, "log of run "+id)
		return
	}
	if page > 1 {
		v.Prev = fmt.Sprintf("/run/log?id=%s&page=%d", url.QueryEscape(id), page-1)
	}
	if n > to {
		v.Next = fmt.Sprintf("/run/log?id=%s&page=%d", url.QueryEscape(id), page+1)
	}
	c.render(w, http.StatusOK, "log", c.view(r, "Log", "runs", v))
}

// events streams a run's page its news as server-sent events: the newest
// LogPage lines of its log once read up to now ("skipped" says how many
// came before), then every line as it is written; and "state" whenever
// the run moves on, so the page fetches its status again.
func (c *Console) events(w http.ResponseWriter, r *request) {
	id := r.URL.Query().Get("id")
	ref, err := runs.ParseRef(id)
	if err != nil || ref.RunID == "" {
		http.Error(w, "no such run", http.StatusNotFound)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	if !c.sessions.openStream(r.s) {
		http.Error(w, fmt.Sprintf("this session follows %d runs already: close a run's page", maxStreams), http.StatusTooManyRequests)
		return
	}
	defer c.sessions.closeStream(r.s)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	var mu sync.Mutex // the log's reader and the status poll both write
	closed := false   // the handler has returned: w is no longer ours
	defer func() { mu.Lock(); closed = true; mu.Unlock() }()
	send := func(event string, lines ...[]byte) error {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return context.Canceled
		}
		var b bytes.Buffer
		if event != "" {
			fmt.Fprintf(&b, "event: %s\n", event)
		}
		for _, l := range lines {
			b.WriteString("data: ")
			b.Write(bytes.ReplaceAll(l, []byte("\r"), nil))
			b.WriteByte('\n')
		}
		if len(lines) == 0 {
			b.WriteString("data: \n")
		}
		b.WriteByte('\n')
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// a browser that reconnects gets the log's tail again: it starts over
	if send("reset") != nil {
		return
	}
	state := c.stateOf(ctx, r, id)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		// until the log is read up to now, keep only its newest lines
		tail := newRing(c.LogPage)
		skipped, live := 0, false
		catchUp := func() {
			if live {
				return
			}
			live = true
			if skipped > 0 {
				_ = send("skipped", []byte(strconv.Itoa(skipped)))
			}
			if lines := tail.lines(); len(lines) > 0 {
				_ = send("", lines...)
			}
		}
		// the browser's connection stays with send: its deadline moves on
		// with every event, and never after this handler has returned
		lw := &lineWriter{header: http.Header{}, caughtUp: catchUp, line: func(b []byte) error {
			if live {
				return send("", b)
			}
			if tail.add(b) {
				skipped++
			}
			return nil
		}}
		c.readLog(ctx, r.s.token, ref, !isTerminal(state), lw)
		catchUp()
		if lw.code != 0 && lw.code != http.StatusOK {
			_ = send("problem", bytes.TrimSpace(lw.pending))
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastBeat := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-logDone:
			// the log has ended; the run's last state follows it
			if now := c.stateOf(ctx, r, id); now != state {
				_ = send("state", []byte(now))
			}
			_ = send("end")
			return
		case <-tick.C:
			if now := c.stateOf(ctx, r, id); now != state {
				state = now
				if send("state", []byte(now)) != nil {
					return
				}
			} else if time.Since(lastBeat) > 15*time.Second {
				// a quiet run (one waiting for approval) keeps its stream:
				// the write deadline moves on, proxies see bytes
				if send("beat") != nil {
					return
				}
				lastBeat = time.Now()
			}
		}
	}
}

// stateOf is a short fingerprint of a run's state: it changes when the
// page's status part would.
func (c *Console) stateOf(ctx context.Context, r *request, id string) string {
	var st httpapi.StatusResponse
	if c.call(ctx, r.s.token, http.MethodGet, "/api/v1/status?run="+url.QueryEscape(id), nil, &st).code != http.StatusOK {
		return "unknown"
	}
	if st.Rollback != nil {
		return st.Rollback.State + " " + st.Rollback.Status + " " + strconv.Itoa(len(st.Rollback.Approvals)+len(st.Rollback.Refusals))
	}
	s := st.State
	out := s.State + " " + s.Phase + " " + s.Queued + " " + s.Frozen
	for _, p := range s.Phases {
		out += " " + p.Name + ":" + p.Status
	}
	if a := s.Approval; a != nil {
		out += fmt.Sprintf(" %s %d %d", a.Status, len(a.Approvals), len(a.Refusals))
	}
	return out
}

// isTerminal tells whether a fingerprint is of a run that has ended.
func isTerminal(state string) bool {
	first, _, _ := strings.Cut(state, " ")
	return first == "unknown" || runs.Terminal(first)
}

// ring keeps the newest n lines.
type ring struct {
	buf  [][]byte
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([][]byte, max(n, 1))} }

// add keeps a copy of b and says whether it pushed out an older line.
func (r *ring) add(b []byte) bool {
	dropped := r.full
	r.buf[r.next] = append(r.buf[r.next][:0], b...)
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
	return dropped
}

func (r *ring) lines() [][]byte {
	if !r.full {
		return r.buf[:r.next]
	}
	return append(append([][]byte{}, r.buf[r.next:]...), r.buf[:r.next]...)
}
