package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// authenticated admits a request to the API only with a configured bearer
// token. With no tokens configured the API is closed, and says how to open it.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.Tokens) == 0 {
			http.Error(w, "the API is closed: configure api_tokens in the server configuration (sluice dev writes a token to DATA_DIR/api-token)", http.StatusUnauthorized)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		name := ""
		if ok {
			// compare against every token so timing does not tell which one matched
			for token, n := range s.Tokens {
				if subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
					name = n
				}
			}
		}
		if name == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			http.Error(w, "missing or unknown API token: pass --token or SLUICE_TOKEN", http.StatusUnauthorized)
			return
		}
		s.Log.Debug("api request", "client", name, "path", r.URL.Path)
		next(w, r)
	}
}
