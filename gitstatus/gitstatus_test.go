package gitstatus

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReportersSpeakEachHostsAPI checks the request each client library
// sends: the REST path, the token header and the state in the host's words.
func TestReportersSpeakEachHostsAPI(t *testing.T) {
	const sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	cases := []struct {
		provider, base, path, auth, stateKey, state string
	}{
		{"github", "/api/v3/", "/api/v3/repos/acme/hello/statuses/" + sha, "Bearer tok", "state", "pending"},
		{"gitlab", "/api/v4", "/api/v4/projects/acme%2Fhello/statuses/" + sha, "", "state", "running"},
		{"gitea", "", "/api/v1/repos/acme/hello/statuses/" + sha, "token tok", "state", "pending"},
	}
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			var got *http.Request
			var body map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				b, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(b, &body)
				if len(body) == 0 { // gitlab sends a query or form
					body = map[string]any{}
					r.ParseForm()
					for k, v := range r.Form {
						body[k] = v[0]
					}
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				w.Write([]byte(`{"id": 1}`))
			}))
			defer srv.Close()
			rep, err := New(tc.provider, srv.URL+tc.base, "tok")
			if err != nil {
				t.Fatal(err)
			}
			err = rep.Set(context.Background(), Status{Repo: "acme/hello", Commit: sha, State: Running, Description: "phase build", TargetURL: "http://ui/run"})
			if err != nil {
				t.Fatal(err)
			}

			if got.Method != http.MethodPost || got.URL.EscapedPath() != tc.path {
				t.Fatalf("%s %s, want POST %s", got.Method, got.URL.EscapedPath(), tc.path)
			}
			if tc.auth != "" && got.Header.Get("Authorization") != tc.auth {
				t.Errorf("auth %q", got.Header.Get("Authorization"))
			}
			if tc.provider == "gitlab" && got.Header.Get("Private-Token") != "tok" {
				t.Errorf("gitlab token header %q", got.Header.Get("Private-Token"))
			}
			if body[tc.stateKey] != tc.state || !strings.Contains(jsonString(body), "sluice") {
				t.Errorf("body %v", body)
			}
			body = nil
			if err := rep.Set(context.Background(), Status{Repo: "acme/hello", Commit: sha, State: Success, Description: "available", Name: "sluice/available"}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(jsonString(body), `"sluice/available"`) {
				t.Errorf("a named status was sent as %v", body)
			}
		})
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestHostDownIsAnError(t *testing.T) {
	rep, _ := New("github", "http://127.0.0.1:1/api/v3/", "tok")
	if err := rep.Set(context.Background(), Status{Repo: "acme/hello", Commit: "x", State: Success}); err == nil {
		t.Fatal("no error from an unreachable host")
	}
}

// TestHasReadsTheNewestStatus checks each host's read of a commit's
// statuses, as each host's API answers it: a retried Set is skipped only
// when the newest status of its name is the same one.
func TestHasReadsTheNewestStatus(t *testing.T) {
	const sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	want := Status{Repo: "acme/hello", Commit: sha, State: Success, Description: "passed", TargetURL: "http://ui/run/2"}
	cases := []struct {
		provider, base, path string
		// the host's answer: an older success, then a newer one of the other run
		same, other string
	}{
		{"github", "/api/v3/", "/api/v3/repos/acme/hello/commits/" + sha + "/statuses",
			`[{"state":"success","description":"passed","target_url":"http://ui/run/2","context":"sluice"},{"state":"pending","context":"sluice"}]`,
			`[{"state":"success","description":"passed","target_url":"http://ui/run/1","context":"sluice"},{"state":"success","description":"passed","target_url":"http://ui/run/2","context":"sluice"}]`},
		{"gitlab", "/api/v4", "/api/v4/projects/acme%2Fhello/repository/commits/" + sha + "/statuses",
			`[{"id":1,"status":"pending","name":"sluice"},{"id":2,"status":"success","description":"passed","target_url":"http://ui/run/2","name":"sluice"}]`,
			`[{"id":3,"status":"success","description":"passed","target_url":"http://ui/run/1","name":"sluice"},{"id":2,"status":"success","description":"passed","target_url":"http://ui/run/2","name":"sluice"}]`},
		{"gitea", "", "/api/v1/repos/acme/hello/commits/" + sha + "/statuses",
			`[{"id":1,"status":"pending","context":"sluice"},{"id":2,"status":"success","description":"passed","target_url":"http://ui/run/2","context":"sluice"}]`,
			`[{"id":3,"status":"success","description":"passed","target_url":"http://ui/run/1","context":"sluice"},{"id":2,"status":"success","description":"passed","target_url":"http://ui/run/2","context":"sluice"}]`},
	}
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			answer := ""
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.EscapedPath() != tc.path {
					if strings.HasSuffix(r.URL.Path, "/version") { // gitea's client asks once
						w.Write([]byte(`{"version":"1.22.0"}`))
						return
					}
					t.Errorf("%s %s, want GET %s", r.Method, r.URL.EscapedPath(), tc.path)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(answer))
			}))
			defer srv.Close()
			rep, err := New(tc.provider, srv.URL+tc.base, "tok")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				answer string
				has    bool
			}{{tc.same, true}, {tc.other, false}, {`[]`, false}} {
				answer = c.answer
				has, err := rep.Has(context.Background(), want)
				if err != nil || has != c.has {
					t.Errorf("answer %s: has %v (%v), want %v", c.answer, has, err, c.has)
				}
			}
		})
	}
}
