package httpapi

import (
	"context"
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
	} else if req.Approve {
		if shared, err := s.sharedIdentity(r.Context(), ref, user); err != nil {
			s.runError(w, err)
			return
		} else if shared != "" {
			writeJSON(w, http.StatusConflict, DecisionResponse{User: user, Refused: fmt.Sprintf("%s (%s and the change's author or pusher are one person: the configuration links both to %s)", workflows.RefusedAuthor, user, shared)})
			return
		}
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

// sharedIdentity is an identity the configuration links to user (the chat
// id slack.users maps it to) that is also one of the run's author's or
// pusher's, or "". The run's gate compares the user's own name with them;
// this finds the same person under another name.
func (s *Server) sharedIdentity(ctx context.Context, ref runs.Ref, user string) (string, error) {
	if s.Config == nil {
		return "", nil
	}
	linked := s.Config.AuthorIDs(user)
	if len(linked) < 2 {
		return "", nil // no identity beyond the name the gate checks
	}
	_, st, err := s.Runs.Status(ctx, ref)
	if err != nil {
		return "", err
	}
	p := st.Request.Push
	for _, id := range linked {
		if strings.EqualFold(id, user) {
			continue // the gate refuses this one itself, on the record
		}
		for _, theirs := range append(append([]string{p.Author}, p.AuthorIDs...), p.PusherIDs...) {
			if id != "" && strings.EqualFold(strings.TrimSpace(id), strings.TrimSpace(theirs)) {
				return id, nil
			}
		}
	}
	return "", nil
}
