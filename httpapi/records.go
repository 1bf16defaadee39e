package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/records"
)

// The records routes read Sluice's own records, which outlive Temporal's
// retention: GET /api/v1/records (runs, filtered), GET
// /api/v1/records/{run} (one run with its phases and decisions) and GET
// /api/v1/audit (decisions and refusals). A client sees the runs of the
// projects it may view (access.Status).

// recordFilter reads a records.Filter from the query: project, repository,
// branch, state, environment, kind, since and before (RFC 3339 times, or a
// duration before now such as 168h), limit.
func recordFilter(q url.Values, now time.Time) (records.Filter, error) {
	f := records.Filter{Project: q.Get("project"), Repository: q.Get("repository"), Branch: q.Get("branch"),
		State: q.Get("state"), Environment: q.Get("environment"), Kind: q.Get("kind")}
	switch f.Kind {
	case "", contract.RecordPipeline, contract.RecordRollback, contract.RecordChaos:
	default:
		return f, fmt.Errorf("kind: %s, %s or %s, not %q", contract.RecordPipeline, contract.RecordRollback, contract.RecordChaos, f.Kind)
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "before": &f.Before} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			*dst = t
		} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
			*dst = now.Add(-d)
		} else {
			return f, fmt.Errorf("%s: an RFC 3339 time (2026-12-01T00:00:00Z) or a duration before now (168h), not %q", name, v)
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, fmt.Errorf("limit: a number from 1 to 1000, not %q", v)
		}
		f.Limit = n
	}
	return f, nil
}

// viewable is the projects r's client may view, nil for all.
func (s *Server) viewable(r *http.Request) []string {
	who := client(r)
	if !s.governed() || who.Everything {
		return nil
	}
	out := []string{}
	for _, p := range s.Config.Projects {
		if who.Roles.Allows(p.Name, access.Status) {
			out = append(out, p.Name)
		}
	}
	if who.Roles.Allows("", access.Status) {
		out = append(out, "")
	}
	return out
}

func (s *Server) recordsOpen(w http.ResponseWriter) bool {
	if s.Records == nil {
		http.Error(w, "this server keeps no records (start it with --records)", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// answerRecords answers a query over the records the request's filter
// selects, within the projects its client may view; prepare sets what
// the query's filter defaults to. An empty answer is [], not null.
func answerRecords[T any](s *Server, w http.ResponseWriter, r *http.Request, what string,
	prepare func(*records.Filter, time.Time), query func(context.Context, records.Filter) ([]T, error)) {
	if !s.recordsOpen(w) {
		return
	}
	now := time.Now()
	f, err := recordFilter(r.URL.Query(), now)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if prepare != nil {
		prepare(&f, now)
	}
	f.Projects = s.viewable(r)
	out, err := query(r.Context(), f)
	if err != nil {
		s.Log.Error(what, "error", err)
		http.Error(w, "the records could not be read; the server's log says why", http.StatusBadGateway)
		return
	}
	if out == nil {
		out = []T{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) {
	answerRecords(s, w, r, "list records", nil, s.Records.List)
}

func (s *Server) runRecord(w http.ResponseWriter, r *http.Request) {
	if !s.recordsOpen(w) {
		return
	}
	rec, err := s.Records.Run(r.Context(), r.PathValue("run"))
	if errors.Is(err, records.ErrNotFound) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if err != nil {
		s.Log.Error("read record", "error", err)
		http.Error(w, "the record could not be read; the server's log says why", http.StatusBadGateway)
		return
	}
	if !s.allow(w, r, rec.Project, access.Status) {
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	answerRecords(s, w, r, "audit", nil, s.Records.Audit)
}

// dora answers the four DORA keys per pipeline (GET /api/v1/dora,
// ?since=…&before=…&project=…; since defaults to records.Window ago).
func (s *Server) dora(w http.ResponseWriter, r *http.Request) {
	answerRecords(s, w, r, "dora", func(f *records.Filter, now time.Time) {
		if f.Since.IsZero() {
			f.Since = now.Add(-records.Window)
		}
		if f.Before.IsZero() {
			f.Before = now
		}
	}, func(ctx context.Context, f records.Filter) ([]records.Keys, error) {
		return s.Records.Dora(ctx, f, f.Before)
	})
}
