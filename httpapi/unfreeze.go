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

// UnfreezeRequest is the body of POST /api/v1/unfreezes.
type UnfreezeRequest struct {
	// Run is the run waiting for its freeze, with its run id part.
	Run    string `json:"run"`
	Reason string `json:"reason"`
}

// UnfreezeResponse is the override recorded, or why there is none.
type UnfreezeResponse struct {
	Override *workflows.FreezeOverride `json:"override,omitempty"`
	Refused  string                    `json:"refused,omitempty"`
}

// unfreeze releases a run's production from the freeze window it waits
// for: an administrator of the run's project, as the token's user, with
// a reason; the run records both.
func (s *Server) unfreeze(w http.ResponseWriter, r *http.Request) {
	var req UnfreezeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "body: want JSON {run, reason}: "+err.Error(), http.StatusBadRequest)
		return
	}
	ref, err := runs.ParseRef(req.Run)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	who := client(r)
	switch {
	case ref.RunID == "":
		http.Error(w, "an override names the run by its id (pipeline/<repo>:<branch>@<run id>), so it can reach no other", http.StatusBadRequest)
		return
	case strings.TrimSpace(req.Reason) == "":
		http.Error(w, "an override needs a reason: pass --reason", http.StatusBadRequest)
		return
	case who.User == "" && !who.Everything:
		http.Error(w, fmt.Sprintf("token %q is not tied to a user: give it a user in api_tokens to override a freeze", who.Name), http.StatusForbidden)
		return
	}
	if !s.allowOnRun(w, r, ref, access.Unfreeze) {
		return
	}
	user := who.User
	if user == "" {
		user = who.Name
	}
	o, err := s.Runs.Unfreeze(r.Context(), ref, workflows.Decision{User: user, Comment: req.Reason, Via: who.credential()})
	if errors.Is(err, runs.ErrRefused) {
		writeJSON(w, http.StatusConflict, UnfreezeResponse{Refused: err.Error()})
		return
	}
	if err != nil {
		s.runError(w, err)
		return
	}
	s.Log.Info("freeze overridden", "run", ref.String(), "user", user, "reason", req.Reason, "client", who.Name)
	writeJSON(w, http.StatusOK, UnfreezeResponse{Override: &o})
}
