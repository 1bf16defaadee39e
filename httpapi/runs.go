package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/request"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// RunRequest is the body of POST /api/v1/runs: a manual run of a branch
// (`sluice run`). on.branches does not apply; the server's policy does, as
// for a push.
type RunRequest struct {
	// Repo is a repository of the server's configuration, by name
	// ("acme/hello") or clone URL. A server without repositories (`sluice
	// dev`) takes any absolute path or URL it can read.
	Repo   string `json:"repo"`
	Branch string `json:"branch"`
	// Commit is a SHA; empty: the branch's head.
	Commit string `json:"commit,omitempty"`
	// Name is the repository's name as Sluice shows it, for a server
	// without repositories; empty: from the path or URL.
	Name string `json:"name,omitempty"`
	// Pipeline is one of the repository's .sluice/ pipelines ("api" for
	// .sluice/api.yml); empty: .sluice.yml.
	Pipeline string `json:"pipeline,omitempty"`
	// Inputs are values of the spec's inputs, checked against their
	// declarations (a wrong type or a missing required one is refused).
	Inputs map[string]string `json:"inputs,omitempty"`
}

// RunResponse is what a started (or refused) run answers.
type RunResponse struct {
	runs.Started
	Commit string `json:"commit,omitempty"`
	// Refused is why nothing started: the spec is invalid or asks beyond
	// the server's policy (422).
	Refused string `json:"refused,omitempty"`
}

// startRun builds the run's request with the server's request builder —
// the one the webhooks use, with the server's configuration and policy —
// and starts it. The caller is the run's pusher: it may not approve it.
func (s *Server) startRun(w http.ResponseWriter, r *http.Request) {
	var req RunRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "body: want JSON {repo, branch, commit}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Repo == "" || req.Branch == "" {
		http.Error(w, "a run names its repository and branch", http.StatusBadRequest)
		return
	}
	src, status, err := s.runSource(req)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	if s.governed() {
		project := ""
		if p, err := s.Config.ProjectOf(src.Repo); err == nil && p != nil {
			project = p.Name
		}
		if !s.allow(w, r, project, access.Run) {
			return
		}
	}
	who := client(r)
	src.Pusher, src.Manual, src.Pipeline, src.Inputs = who.User, true, req.Pipeline, req.Inputs
	src.DeliveryID = fmt.Sprintf("api-%s-%d", who.Name, time.Now().UnixNano())
	b := &request.Builder{Config: s.Config, ReadTimeout: time.Minute}
	built, err := b.Build(r.Context(), src)
	var invalid *request.Invalid
	switch {
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusUnprocessableEntity, RunResponse{Commit: invalid.Commit, Refused: invalid.Error()})
		return
	case err != nil:
		s.Log.Warn("run refused", "repo", req.Repo, "branch", req.Branch, "error", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	started, err := s.Starter.Start(r.Context(), built)
	if err != nil {
		s.Log.Error("start run", "repo", built.Push.Repo, "error", err)
		http.Error(w, "the run could not be started; the server's log says why", http.StatusServiceUnavailable)
		return
	}
	s.Log.Info("run", "repo", built.Push.Repo, "branch", built.Push.Branch, "commit", built.Push.Commit, "client", who.Name, "action", started.Action)
	writeJSON(w, http.StatusAccepted, RunResponse{Started: started, Commit: built.Push.Commit})
}

// runSource is where the run's code comes from: a repository of the
// configuration (its own clone URL: a caller cannot point a project's name
// at other code), or on a server without repositories or projects the
// caller's path.
func (s *Server) runSource(req RunRequest) (request.Source, int, error) {
	var repos []config.Repository
	if s.Config != nil {
		repos = s.Config.Repositories
	}
	if len(repos) == 0 {
		if s.Config != nil && len(s.Config.Projects) > 0 {
			// a caller's path with a name of its choosing would choose the project too
			return request.Source{}, http.StatusUnprocessableEntity, fmt.Errorf("repository %q: this server governs projects and runs only the repositories its configuration lists; an administrator adds it under repositories (name and clone_url)", req.Repo)
		}
		if !strings.Contains(req.Repo, "://") && !strings.HasPrefix(req.Repo, "/") {
			return request.Source{}, http.StatusBadRequest, fmt.Errorf("repository %q: name an absolute path or a URL the server can read", req.Repo)
		}
		return request.Source{Repo: req.Name, CloneURL: req.Repo, Branch: req.Branch, Commit: req.Commit}, 0, nil
	}
	for _, c := range repos {
		if strings.EqualFold(c.Name, req.Repo) || c.CloneURL == req.Repo {
			return request.Source{Repo: c.Name, CloneURL: c.CloneURL, Branch: req.Branch, Commit: req.Commit}, 0, nil
		}
	}
	return request.Source{}, http.StatusNotFound, fmt.Errorf("repository %q is not one this server serves; name one of its repositories by name or clone URL", req.Repo)
}

// RunRef is the body of POST /api/v1/cancellations and /api/v1/retries.
type RunRef struct {
	// Run is a run id as `sluice status` prints it.
	Run string `json:"run"`
}

// cancelRun cancels a run; its compensation runs before it closes.
func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	ref, ok := s.readRunRef(w, r)
	if !ok || !s.allowOnRun(w, r, ref, access.Cancel) {
		return
	}
	ref, err := s.Runs.Cancel(r.Context(), ref)
	if err != nil {
		s.runError(w, err)
		return
	}
	s.Log.Info("cancel", "run", ref.String(), "client", client(r).Name)
	writeJSON(w, http.StatusAccepted, RunResponse{Started: runs.Started{Ref: ref, Action: "cancelling"}})
}

// retryRun starts a new run of a failed run's commit from its failed
// phase. The request is built anew by the request builder, under today's
// configuration and policy, with the caller as a pusher.
func (s *Server) retryRun(w http.ResponseWriter, r *http.Request) {
	ref, ok := s.readRunRef(w, r)
	if !ok || !s.allowOnRun(w, r, ref, access.Retry) {
		return
	}
	who := client(r)
	rebuild := func(old contract.Request) (contract.Request, error) {
		p := old.Push
		b := &request.Builder{Config: s.Config, ReadTimeout: time.Minute}
		// the same pipeline, decided from the same facts as the run
		req, err := b.Build(r.Context(), request.Source{Repo: p.Repo, CloneURL: p.CloneURL, Branch: p.Branch, Commit: p.Commit,
			Pipeline: p.Pipeline, Event: p.Event, Base: p.Base, Merge: p.Merge, Inputs: p.Inputs,
			Pusher: who.User, Manual: true, DeliveryID: fmt.Sprintf("retry-%s-%d", who.Name, time.Now().UnixNano())})
		if err != nil {
			return req, err
		}
		// whoever could not approve the first run cannot approve its retry
		req.Push.AuthorIDs = union(req.Push.AuthorIDs, p.AuthorIDs)
		req.Push.PusherIDs = union(req.Push.PusherIDs, p.PusherIDs)
		req.Push.Author, req.Push.Message = p.Author, p.Message
		return req, nil
	}
	started, err := s.Runs.Retry(r.Context(), ref, rebuild)
	var invalid *request.Invalid
	if errors.As(err, &invalid) {
		writeJSON(w, http.StatusUnprocessableEntity, RunResponse{Commit: invalid.Commit, Refused: invalid.Error()})
		return
	}
	if err != nil {
		s.runError(w, err)
		return
	}
	s.Log.Info("retry", "run", ref.String(), "client", who.Name, "new", started.Ref.String())
	writeJSON(w, http.StatusAccepted, RunResponse{Started: started})
}

func (s *Server) readRunRef(w http.ResponseWriter, r *http.Request) (runs.Ref, bool) {
	var req RunRef
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "body: want JSON {run}: "+err.Error(), http.StatusBadRequest)
		return runs.Ref{}, false
	}
	ref, err := runs.ParseRef(req.Run)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return runs.Ref{}, false
	}
	return ref, true
}

// runError answers a runs client's error: a run that does not exist is
// 404, a refusal 409, the rest the server's.
func (s *Server) runError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, runs.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	default:
		http.Error(w, err.Error(), http.StatusConflict)
	}
}

func union(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// RollbackRequest is the body of POST /api/v1/rollbacks.
type RollbackRequest struct {
	Pipeline  string `json:"pipeline"`
	Namespace string `json:"namespace"`
	Context   string `json:"context,omitempty"`
	// To is the release to bring back; 0: the one before the live one.
	To     int    `json:"to,omitempty"`
	Reason string `json:"reason"`
}

// RollbackResponse names the Rollback run and who it is recorded as.
type RollbackResponse struct {
	Ref runs.Ref `json:"ref"`
	By  string   `json:"by"`
	// Approval, when set, is who must approve before anything changes.
	Approval *contract.RollbackApproval `json:"approval,omitempty"`
}

// rollback starts a Rollback run for a releaser of the project whose
// production environment the namespace is, recording who asked (as the
// server knows them) and why.
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	var req RollbackRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "body: want JSON {pipeline, namespace, to, reason}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Pipeline == "" || req.Namespace == "" || strings.TrimSpace(req.Reason) == "" || req.To < 0 {
		http.Error(w, "a rollback names the pipeline, its production namespace and a reason (--reason)", http.StatusBadRequest)
		return
	}
	in := contract.RollbackInput{Pipeline: req.Pipeline, Namespace: req.Namespace, Context: req.Context, To: req.To, Reason: req.Reason}
	if s.governed() {
		project := s.Config.ProductionProject(req.Namespace)
		if project == nil {
			http.Error(w, fmt.Sprintf("namespace %s is no project's production namespace: a rollback happens where a project releases", req.Namespace), http.StatusNotFound)
			return
		}
		if !s.allow(w, r, project.Name, access.Rollback) {
			return
		}
		prod := project.Environments.Production
		if !prod.AllowsContext(req.Context) {
			http.Error(w, fmt.Sprintf("context %q is not one project %s's production may use (%s)", req.Context, project.Name, strings.Join(prod.Contexts, ", ")), http.StatusUnprocessableEntity)
			return
		}
		in.Project, in.Guard = project.Name, prod.Guard()
		if users, required, timeout := prod.RollbackApprovers(s.Config.ApproverGroups); required > 0 {
			in.Approval = &contract.RollbackApproval{Approvers: users, Required: required, Timeout: timeout.D()}
		}
	}
	in.By, in.Requester = client(r).describe(), client(r).User
	ref, err := s.Runs.StartRollback(r.Context(), in)
	if errors.Is(err, runs.ErrRefused) {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	if err != nil {
		s.Log.Error("start rollback", "pipeline", req.Pipeline, "error", err)
		http.Error(w, "the rollback could not be started; the server's log says why", http.StatusServiceUnavailable)
		return
	}
	s.Log.Info("rollback", "pipeline", req.Pipeline, "namespace", req.Namespace, "to", req.To, "by", in.By, "run", ref.String())
	writeJSON(w, http.StatusAccepted, RollbackResponse{Ref: ref, By: in.By, Approval: in.Approval})
}

// StatusResponse is a run's state, as GET /api/v1/status?run=ID answers.
type StatusResponse struct {
	Ref   runs.Ref           `json:"ref"`
	State workflows.RunState `json:"state"`
	// Rollback is a Rollback run's status (State is then empty).
	Rollback *runs.RollbackStatus `json:"rollback,omitempty"`
}

// runStatus answers a run's state (`sluice status`): the viewer role, or
// any that includes it, in the run's project.
func (s *Server) runStatus(w http.ResponseWriter, r *http.Request) {
	ref, err := runs.ParseRef(r.URL.Query().Get("run"))
	if err != nil {
		http.Error(w, "run: "+err.Error(), http.StatusBadRequest)
		return
	}
	// one read answers and authorises (`status --wait` polls this)
	var res StatusResponse
	var project string
	if workflows.IsRollbackID(ref.WorkflowID) {
		var st runs.RollbackStatus
		res.Ref, st, err = s.Runs.RollbackStatus(r.Context(), ref)
		res.Rollback, project = &st, st.Project
	} else {
		res.Ref, res.State, err = s.Runs.Status(r.Context(), ref)
		if s.governed() {
			project = s.stateProject(res.State)
		}
	}
	switch {
	case errors.Is(err, runs.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
	case s.allow(w, r, project, access.Status):
		writeJSON(w, http.StatusOK, res)
	}
}
