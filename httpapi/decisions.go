package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// DecisionRequest is the body of POST /api/v1/decisions.
type DecisionRequest struct {
	// Run is a run id as `sluice list` prints it, with its run id part:
	// pipeline/<repo>:<branch>@<run id>.
	Run string `json:"run"`
	// Commit is the commit the decider reviewed (7 characters or more); a
	// decision whose run releases another commit is refused.
	Commit  string `json:"commit"`
	Approve bool   `json:"approve"`
	Comment string `json:"comment,omitempty"`
	// As names the deciding user; only a client with TrustAs may send it.
	As string `json:"as,omitempty"`
}

// DecisionResponse is what an accepted or refused decision answers.
type DecisionResponse struct {
	workflows.DecisionResult
	User    string `json:"user"`
	Refused string `json:"refused,omitempty"`
}

// decide records an approval or rejection for the token's user. The user is
// established here — from the token, or from --as for the single-user dev
// token — and the run's gate counts the decision only with the proof the
// runs client signs on the way.
func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	var req DecisionRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "body: want JSON {run, approve, comment}: "+err.Error(), http.StatusBadRequest)
		return
	}
	ref, err := runs.ParseRef(req.Run)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	who := client(r)
	user, via := who.User, who.credential()
	switch {
	case req.As != "" && !who.TrustAs:
		http.Error(w, fmt.Sprintf("--as is accepted only by a server in single-user dev mode; token %q decides as %s", who.Name, orNobody(who.User)), http.StatusForbidden)
		return
	case req.As != "":
		user, via = strings.TrimSpace(req.As), "dev --as (single-user dev mode, not verified)"
	case user == "":
		msg := fmt.Sprintf("token %q is not tied to a user: give it a user in api_tokens to decide approvals", who.Name)
		if who.TrustAs {
			msg = "say who decides: pass --as USER (single-user dev mode)"
		}
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	if ref.RunID == "" || len(req.Commit) < 7 && !workflows.IsRollbackID(ref.WorkflowID) {
		http.Error(w, "a decision names the run it decides by its id (pipeline/<repo>:<branch>@<run id>) and the commit reviewed (7 characters or more), so it can never reach a run nobody reviewed", http.StatusBadRequest)
		return
	}
	action := access.Approve
	if !req.Approve {
		action = access.Reject
	}
	if !s.allowOnRun(w, r, ref, action) {
		return
	}
	if workflows.IsRollbackID(ref.WorkflowID) {
		req.Commit = "" // a rollback brings back a release the run names; its id is what was reviewed
	}
	res, err := s.Runs.Decide(r.Context(), ref, req.Commit, req.Approve, workflows.Decision{User: user, Comment: req.Comment, Via: via})
	resp := DecisionResponse{DecisionResult: res, User: user}
	switch {
	case errors.Is(err, runs.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case errors.Is(err, runs.ErrRefused):
		resp.Refused = strings.TrimPrefix(err.Error(), runs.ErrRefused.Error()+": ")
		writeJSON(w, http.StatusConflict, resp)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	s.Log.Info("decision", "run", ref.String(), "approve", req.Approve, "user", user, "via", via)
	writeJSON(w, http.StatusOK, resp)
}

func orNobody(user string) string {
	if user == "" {
		return "nobody (no user configured)"
	}
	return user
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
