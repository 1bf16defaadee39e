package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/pool/poolspec"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// The administrators' routes: sizing pools and running chaos experiments.
// On a server with projects each needs the admin role in the project the
// pool or the experiment's namespace belongs to (a pool of no project, or
// a namespace of none: admin of every project).

// PoolSizeRequest is the body of POST /api/v1/pools/{pool}/size.
type PoolSizeRequest struct {
	MinIdle int  `json:"min_idle"`
	Drain   bool `json:"drain,omitempty"`
}

// PoolSizeResponse is what the PoolSize run did.
type PoolSizeResponse struct {
	Run     runs.Ref `json:"run"`
	MinIdle int      `json:"min_idle"`
	Deleted int      `json:"deleted"`
	By      string   `json:"by"`
}

// sizePool runs a PoolSize workflow: a worker with the pool's cluster sets
// its idle target (and drains it); the server holds no cluster credentials.
func (s *Server) sizePool(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("pool")
	var req PoolSizeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil {
		http.Error(w, "body: want JSON {min_idle, drain}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if s.Config == nil {
		http.Error(w, "this server has no configuration: pools are declared under pools in --config", http.StatusNotFound)
		return
	}
	spec, ok := s.Config.Pool(name)
	if !ok {
		http.Error(w, fmt.Sprintf("no pool %q on this server (pools: %s)", name, strings.Join(s.Config.PoolNames(), ", ")), http.StatusNotFound)
		return
	}
	if !s.allow(w, r, spec.Project, access.PoolResize) {
		return
	}
	if !req.Drain && (req.MinIdle < 0 || req.MinIdle > spec.MaxTotal) {
		http.Error(w, fmt.Sprintf("pool %s: min_idle %d is outside 0..%d (its max_total)", name, req.MinIdle, spec.MaxTotal), http.StatusBadRequest)
		return
	}
	by := client(r).describe()
	ref, res, err := s.Runs.SizePool(r.Context(), workflows.PoolSizeInput{Pool: name, MinIdle: req.MinIdle, Drain: req.Drain, By: by})
	if errors.Is(err, runs.ErrRefused) {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	if err != nil {
		s.Log.Error("size pool", "pool", name, "run", ref.String(), "error", err)
		http.Error(w, fmt.Sprintf("pool %s was not sized: %v (run %s)", name, err, ref), http.StatusBadGateway)
		return
	}
	s.Log.Info("pool sized", "pool", name, "min_idle", res.MinIdle, "deleted", res.Deleted, "by", by, "run", ref.String())
	writeJSON(w, http.StatusOK, PoolSizeResponse{Run: ref, MinIdle: res.MinIdle, Deleted: res.Deleted, By: by})
}

// ChaosRequest is the body of POST /api/v1/chaos: an experiment file's
// text, run once or on a schedule.
type ChaosRequest struct {
	// File names the experiment in errors; Experiment is its YAML.
	File       string `json:"file"`
	Experiment string `json:"experiment"`
	// TargetNamespace replaces the file's target.namespace.
	TargetNamespace string `json:"target_namespace,omitempty"`
	// Every, when set (a Go duration, at least 1m), schedules the
	// experiment instead; Now also runs it at once.
	Every string `json:"every,omitempty"`
	Now   bool   `json:"now,omitempty"`
}

// ChaosResponse names the experiment's run, or its schedule.
type ChaosResponse struct {
	ID       string `json:"id,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	By       string `json:"by"`
}

// ChaosCancelRequest is the body of POST /api/v1/chaos/cancellations.
type ChaosCancelRequest struct {
	ID string `json:"id"`
}

// startChaos checks an experiment as `sluice chaos lint` does (every
// problem with its line, 422) and starts or schedules it.
func (s *Server) startChaos(w http.ResponseWriter, r *http.Request) {
	var req ChaosRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "body: want JSON {file, experiment, target_namespace, every, now}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.File == "" {
		req.File = "experiment.yml"
	}
	e, err := chaos.Parse(req.File, []byte(req.Experiment))
	if err != nil {
		if _, ok := pipelines.AsProblems(err); ok {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		http.Error(w, "experiment: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.TargetNamespace != "" {
		e.Namespace = req.TargetNamespace
	}
	if !s.allowInNamespace(w, r, e.Namespace) {
		return
	}
	in := workflows.ChaosInput{Experiment: *e, Project: s.namespaceProject(e.Namespace)}
	by := client(r).describe()
	if req.Every == "" {
		ref, err := s.Runs.StartChaos(r.Context(), in, by)
		if err != nil {
			s.Log.Error("start experiment", "experiment", e.Name, "error", err)
			http.Error(w, "the experiment could not be started; the server's log says why", http.StatusServiceUnavailable)
			return
		}
		s.Log.Info("chaos", "experiment", e.Name, "namespace", e.Namespace, "by", by, "id", ref.WorkflowID)
		writeJSON(w, http.StatusAccepted, ChaosResponse{ID: ref.WorkflowID, By: by})
		return
	}
	every, err := time.ParseDuration(req.Every)
	if err != nil || every < time.Minute {
		http.Error(w, fmt.Sprintf("every %q: an experiment may recur at most once a minute (a duration like 1h)", req.Every), http.StatusBadRequest)
		return
	}
	id, err := s.Runs.ScheduleChaos(r.Context(), in, every, req.Now, by)
	if errors.Is(err, runs.ErrRefused) {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	if err != nil {
		s.Log.Error("schedule experiment", "experiment", e.Name, "error", err)
		http.Error(w, "the experiment could not be scheduled; the server's log says why", http.StatusServiceUnavailable)
		return
	}
	s.Log.Info("chaos scheduled", "experiment", e.Name, "namespace", e.Namespace, "every", every, "by", by)
	writeJSON(w, http.StatusAccepted, ChaosResponse{Schedule: id, By: by})
}

// cancelChaos cancels an experiment; its faults are removed before it
// closes.
func (s *Server) cancelChaos(w http.ResponseWriter, r *http.Request) {
	var req ChaosCancelRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil || req.ID == "" {
		http.Error(w, "body: want JSON {id} with the id `sluice chaos run` printed (chaos/NAME/TIME)", http.StatusBadRequest)
		return
	}
	ns, err := s.Runs.ChaosNamespace(r.Context(), req.ID)
	if err != nil {
		s.runError(w, err)
		return
	}
	if !s.allowInNamespace(w, r, ns) {
		return
	}
	if err := s.Runs.CancelChaos(r.Context(), req.ID); err != nil {
		s.runError(w, err)
		return
	}
	s.Log.Info("chaos cancelled", "id", req.ID, "by", client(r).describe())
	writeJSON(w, http.StatusAccepted, ChaosResponse{ID: req.ID, By: client(r).describe()})
}

// listPools answers the pools of the projects the client may view, with
// their idle, starting and claimed pods and problems (GET /api/v1/pools).
func (s *Server) listPools(w http.ResponseWriter, r *http.Request) {
	if s.Pools == nil || s.Config == nil {
		http.Error(w, "this server does not reach the pools' cluster: start it with --kubeconfig (sluice pool list reads them with yours)", http.StatusServiceUnavailable)
		return
	}
	all, err := s.Pools(r.Context())
	if err != nil {
		s.Log.Error("read pools", "error", err)
		http.Error(w, "the pools could not be read; the server's log says why", http.StatusBadGateway)
		return
	}
	who := client(r)
	out := []poolspec.Status{}
	for _, st := range all {
		project := ""
		if spec, ok := s.Config.Pool(st.Name); ok {
			project = spec.Project
		}
		if !s.governed() || who.Everything || who.Roles.Allows(project, access.Status) {
			out = append(out, st)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// chaosStatus answers an experiment's state (GET /api/v1/chaos/{id}): its
// timeline, observations, alerts received and verdict, for a viewer of
// the project whose namespace it disturbs.
func (s *Server) chaosStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ns, err := s.Runs.ChaosNamespace(r.Context(), id)
	if err != nil {
		s.runError(w, err)
		return
	}
	if !s.allow(w, r, s.namespaceProject(ns), access.Status) {
		return
	}
	st, err := s.Runs.ChaosStatus(r.Context(), id)
	if err != nil {
		s.runError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// unscheduleChaos stops an experiment's recurring runs.
func (s *Server) unscheduleChaos(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ns, err := s.Runs.ScheduleNamespace(r.Context(), name)
	if err != nil {
		s.runError(w, err)
		return
	}
	if !s.allowInNamespace(w, r, ns) {
		return
	}
	if err := s.Runs.Unschedule(r.Context(), name); err != nil {
		s.runError(w, err)
		return
	}
	s.Log.Info("chaos unscheduled", "experiment", name, "by", client(r).describe())
	writeJSON(w, http.StatusOK, ChaosResponse{Schedule: runs.ChaosScheduleID(name), By: client(r).describe()})
}

// allowInNamespace lets r's client run chaos against namespace ns: on a
// server with projects, the admin role in the project one of whose
// environments lists ns; a namespace of no project (or "", an experiment
// from before experiments recorded theirs) needs admin of every project.
func (s *Server) allowInNamespace(w http.ResponseWriter, r *http.Request, ns string) bool {
	return s.allow(w, r, s.namespaceProject(ns), access.ChaosRun)
}

// namespaceProject is the project whose environment lists ns ("" none).
func (s *Server) namespaceProject(ns string) string {
	if s.governed() {
		if p := s.Config.NamespaceProject(ns); p != nil {
			return p.Name
		}
	}
	return ""
}
