package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/request"
	"github.com/sluice-cd/sluice/runs"
)

// ScheduleRequest is the body of POST /api/v1/schedules: runs of a
// branch's head at times a cron expression or an interval names.
type ScheduleRequest struct {
	// Schedule is its name: lower-case letters, digits and -.
	Schedule string `json:"schedule"`
	// Run is the run each firing asks for, as `sluice run` would (its
	// commit is always the branch's head at the time).
	Run  RunRequest `json:"run"`
	When runs.When  `json:"when"`
}

// ScheduleResponse is a schedule as made or found.
type ScheduleResponse struct {
	runs.Schedule
	// Refused is why nothing was scheduled (422).
	Refused string `json:"refused,omitempty"`
}

// createSchedule checks the run a schedule would start as `sluice run`
// would — the repository, the caller's role in its project, the spec at
// the branch's head under the policy, the inputs — and makes the
// schedule; each firing builds its request anew, under the configuration
// of the day.
func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request) {
	var req ScheduleRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "body: want JSON {schedule, run: {repo, branch}, when: {cron | every}}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := req.When.Check(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.Run.Repo == "" || req.Run.Branch == "" || req.Run.Commit != "" {
		http.Error(w, "a schedule names its repository and branch (and no commit: it runs the branch's head)", http.StatusBadRequest)
		return
	}
	src, status, err := s.runSource(req.Run)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	if !s.allow(w, r, s.projectOf(src.Repo), access.Run) {
		return
	}
	who := client(r)
	src.Pusher, src.Manual, src.Event, src.Pipeline, src.Inputs = who.User, true, pipelines.EventSchedule, req.Run.Pipeline, req.Run.Inputs
	b := &request.Builder{Config: s.Config, ReadTimeout: time.Minute}
	built, err := b.Build(r.Context(), src)
	var invalid *request.Invalid
	var ignored request.Ignored
	switch {
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusUnprocessableEntity, ScheduleResponse{Refused: invalid.Error()})
		return
	case errors.As(err, &ignored):
		writeJSON(w, http.StatusUnprocessableEntity, ScheduleResponse{Refused: "a scheduled run of " + src.Branch + " would start nothing: " + ignored.Error()})
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in := contract.ScheduledRun{Name: req.Schedule, Repo: built.Push.Repo, CloneURL: built.Push.CloneURL, Branch: built.Push.Branch,
		Pipeline: built.Push.Pipeline, Inputs: req.Run.Inputs, By: who.User}
	if err := s.Runs.CreateSchedule(r.Context(), in, req.When); err != nil {
		if errors.Is(err, runs.ErrRefused) {
			writeJSON(w, http.StatusUnprocessableEntity, ScheduleResponse{Refused: err.Error()})
			return
		}
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.Log.Info("schedule created", "schedule", in.Name, "repo", in.Repo, "branch", in.Branch, "pipeline", in.Pipeline, "client", who.Name)
	sched, err := s.Runs.DescribeSchedule(r.Context(), in.Name)
	if err != nil {
		sched = runs.Schedule{Run: in, When: req.When}
	}
	writeJSON(w, http.StatusCreated, ScheduleResponse{Schedule: sched})
}

// listSchedules lists the schedules of the projects where the caller may
// see runs.
func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) {
	names, err := s.Runs.ListSchedules(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	who := client(r)
	out := []runs.Schedule{}
	for _, n := range names {
		sched, err := s.Runs.DescribeSchedule(r.Context(), n)
		if err != nil {
			continue // deleted meanwhile
		}
		if s.governed() && !who.Everything && !who.Roles.Allows(s.projectOf(sched.Run.Repo), access.Status) {
			continue
		}
		out = append(out, sched)
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteSchedule removes a schedule (the caller may run in its project).
func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	sched, err := s.Runs.DescribeSchedule(r.Context(), name)
	if err != nil {
		s.runError(w, err)
		return
	}
	if !s.allow(w, r, s.projectOf(sched.Run.Repo), access.Run) {
		return
	}
	if err := s.Runs.DeleteSchedule(r.Context(), name); err != nil {
		s.runError(w, err)
		return
	}
	s.Log.Info("schedule deleted", "schedule", name, "client", client(r).Name)
	writeJSON(w, http.StatusOK, ScheduleResponse{Schedule: sched})
}

// projectOf is the name of repo's project ("" for none).
func (s *Server) projectOf(repo string) string {
	if s.Config == nil {
		return ""
	}
	if p, err := s.Config.ProjectOf(repo); err == nil && p != nil {
		return p.Name
	}
	return ""
}
