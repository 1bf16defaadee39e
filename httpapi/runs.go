package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/request"
	"github.com/sluice-cd/sluice/runs"
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
	who := client(r)
	src.Pusher, src.Manual = who.User, true
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
// at other code), or on a server without repositories the caller's path.
func (s *Server) runSource(req RunRequest) (request.Source, int, error) {
	var repos []config.Repository
	if s.Config != nil {
		repos = s.Config.Repositories
	}
	if len(repos) == 0 {
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
