package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/logstore"
)

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDecisionIdentityIsTheTokens: who decides is established by the
// server before anything reaches the run — --as only for the single-user
// dev token, never for a configured one; a token without a user decides
// nothing. (Accepted decisions are covered end to end in cmd/sluice.)
func TestDecisionIdentityIsTheTokens(t *testing.T) {
	srv, _ := newTestServer(t)
	run := `"run":"pipeline/acme/hello:main@0193abcd-ef01-7000-8000-000000000000"`
	for _, c := range []struct {
		token, body string
		code        int
		want        string
	}{
		{"0123456789abcdef-ci-token", `{` + run + `,"approve":true}`, http.StatusForbidden, "not tied to a user"},
		{"0123456789abcdef-ci-token", `{` + run + `,"approve":true,"as":"alice"}`, http.StatusForbidden, "single-user dev mode"},
		{"0123456789abcdef-ci-token", `{"run":"banana","approve":true}`, http.StatusBadRequest, "not a run id"},
		{"0123456789abcdef-ci-token", `{`, http.StatusBadRequest, "want JSON"},
		{"wrong-token-0123456789", `{` + run + `,"approve":true}`, http.StatusUnauthorized, "unknown API token"},
	} {
		code, body := post(t, srv.URL+"/api/v1/decisions", c.token, c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %q, want %d %q", c.body, code, body, c.code, c.want)
		}
	}
}

// TestDecisionNamesTheRunAndCommit: a decision that names a branch instead
// of a run, or no reviewed commit, is refused before it reaches any run —
// captured for one commit, it would otherwise approve whatever run waits
// on the branch when it arrives.
func TestDecisionNamesTheRunAndCommit(t *testing.T) {
	logs, err := logstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil, logs, slog.New(slog.DiscardHandler)) // no runs client: reaching it would panic
	s.Tokens = map[string]Client{"0123456789abcdef-alice": {Name: "alice-laptop", User: "alice"}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, body := range []string{
		`{"run":"pipeline/acme/hello:main","commit":"6113728f27ae","approve":true}`,
		`{"run":"pipeline/acme/hello:main@0193abcd-ef01-7000-8000-000000000000","approve":true}`,
		`{"run":"pipeline/acme/hello:main@0193abcd-ef01-7000-8000-000000000000","commit":"611","approve":true}`,
	} {
		code, resp := post(t, srv.URL+"/api/v1/decisions", "0123456789abcdef-alice", body)
		if code != http.StatusBadRequest || !strings.Contains(resp, "names the run it decides by its id") {
			t.Errorf("%s: %d %q, want 400", body, code, resp)
		}
	}
}
