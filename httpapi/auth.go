package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// Client is who an API token stands for.
type Client struct {
	Name string
	// User is the approver identity the token proves; empty: the token
	// cannot decide approvals.
	User string
	// TrustAs lets the client name the deciding user itself (--as). Only
	// the token of single-user `sluice dev` has it.
	TrustAs bool
	// Roles are the client's roles by project. On a server with projects
	// a client may do only what they allow; Everything (the single-user
	// dev token) may do all.
	Roles      access.Grants
	Everything bool
	// IDToken marks a client who signed in with an OIDC ID token (Name is
	// "oidc:<claim>"), not an API token.
	IDToken bool
}

// credential is how the client proved who it is, for the audit log:
// "api-token:NAME" or "oidc:CLAIM".
func (c Client) credential() string {
	if c.IDToken {
		return c.Name
	}
	return "api-token:" + c.Name
}

// describe is who the client is, as a rollback records them.
func (c Client) describe() string {
	how := "API token " + c.Name
	if c.IDToken {
		how = "ID token, " + strings.TrimPrefix(c.Name, "oidc:")
	}
	if c.User == "" {
		return how
	}
	return c.User + " (" + how + ")"
}

// governed tells whether the server enforces roles: it has projects.
func (s *Server) governed() bool { return s.Config != nil && len(s.Config.Projects) > 0 }

// allow answers 403 and returns false unless r's client may do action in
// project. On a server without projects every client may do everything.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, project, action string) bool {
	who := client(r)
	if !s.governed() || who.Everything || who.Roles.Allows(project, action) {
		return true
	}
	if project == "" {
		project = "(none)"
	}
	s.Log.Warn("api refused", "client", who.Name, "action", action, "project", project)
	http.Error(w, fmt.Sprintf("token %q has no role that may %s in project %s: an administrator grants one under api_tokens[].roles (%s)",
		who.Name, action, project, rolesFor(action)), http.StatusForbidden)
	return false
}

// rolesFor names the roles that allow action.
func rolesFor(action string) string {
	var out []string
	for _, r := range access.Roles {
		if access.Allows(r, action) {
			out = append(out, r)
		}
	}
	return strings.Join(out, ", ")
}

// runProject is the project of a run: the one its request was governed
// by, else the one its repository belongs to now.
func (s *Server) runProject(ctx context.Context, ref runs.Ref) (string, error) {
	var project string
	var err error
	if workflows.IsRollbackID(ref.WorkflowID) {
		var st workflows.RollbackState
		st, err = s.Runs.RollbackState(ctx, ref)
		project = st.Project
	} else {
		var st workflows.RunState
		if _, st, err = s.Runs.Status(ctx, ref); err == nil {
			project = s.stateProject(st)
		}
	}
	if errors.Is(err, runs.ErrNotFound) && s.Records != nil && ref.RunID != "" {
		// Temporal has forgotten the run (its retention): the records
		// still know whose it was
		if rec, rerr := s.Records.Run(ctx, ref.RunID); rerr == nil && rec.WorkflowID == ref.WorkflowID {
			return rec.Project, nil
		}
	}
	return project, err
}

// stateProject is the project of a run in state st.
func (s *Server) stateProject(st workflows.RunState) string {
	if p := st.Request.Policy; p != nil && p.Project != "" {
		return p.Project
	}
	proj, err := s.Config.ProjectOf(st.Request.Push.Repo)
	if err != nil || proj == nil {
		return ""
	}
	return proj.Name
}

// allowOnRun is allow for an action on an existing run; it answers 404
// for a run that does not exist.
func (s *Server) allowOnRun(w http.ResponseWriter, r *http.Request, ref runs.Ref, action string) bool {
	if !s.governed() {
		return true
	}
	project, err := s.runProject(r.Context(), ref)
	if err != nil {
		if errors.Is(err, runs.ErrNotFound) {
			http.Error(w, err.Error(), http.StatusNotFound)
		} else {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
		return false
	}
	return s.allow(w, r, project, action)
}

type clientKey struct{}

// client is the authenticated client of r.
func client(r *http.Request) Client {
	c, _ := r.Context().Value(clientKey{}).(Client)
	return c
}

// authenticated admits a request to the API only with a configured bearer
// token. With no tokens configured the API is closed, and says how to open it.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.Tokens) == 0 && s.OIDC == nil {
			http.Error(w, "the API is closed: configure api_tokens in the server configuration (sluice dev writes a token to DATA_DIR/api-token)", http.StatusUnauthorized)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var who Client
		if ok {
			// compare against every token so timing does not tell which one matched
			for token, c := range s.Tokens {
				if subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
					who = c
				}
			}
		}
		if who.Name == "" && ok && s.OIDC != nil && strings.Count(got, ".") == 2 {
			c, err := s.OIDC.client(r.Context(), got)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sluice", error="invalid_token"`)
				http.Error(w, "ID token refused: "+err.Error(), http.StatusUnauthorized)
				return
			}
			who = c
		}
		if who.Name == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			http.Error(w, "missing or unknown API token: pass --token or SLUICE_TOKEN", http.StatusUnauthorized)
			return
		}
		s.Log.Debug("api request", "client", who.Name, "path", r.URL.Path)
		next(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, who)))
	}
}
