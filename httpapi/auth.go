package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
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
		if len(s.Tokens) == 0 {
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
		if who.Name == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			http.Error(w, "missing or unknown API token: pass --token or SLUICE_TOKEN", http.StatusUnauthorized)
			return
		}
		s.Log.Debug("api request", "client", who.Name, "path", r.URL.Path)
		next(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, who)))
	}
}
