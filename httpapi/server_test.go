package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/logstore"
)

func newTestServer(t *testing.T) (*httptest.Server, *logstore.Store) {
	t.Helper()
	logs, err := logstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil, logs, slog.New(slog.DiscardHandler))
	s.Tokens = map[string]Client{"0123456789abcdef-ci-token": {Name: "ci"}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, logs
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLogsNeedAToken(t *testing.T) {
	srv, logs := newTestServer(t)
	if err := logs.Append("run-1", "build", "compiling"); err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"", "wrong-token", "0123456789abcdef-ci-toke"} {
		if code, body := get(t, srv.URL+"/api/v1/logs/run-1", token); code != http.StatusUnauthorized || strings.Contains(body, "compiling") {
			t.Errorf("token %q: status %d body %q", token, code, body)
		}
	}
	if code, body := get(t, srv.URL+"/api/v1/logs/run-1", "0123456789abcdef-ci-token"); code != http.StatusOK || !strings.Contains(body, "compiling") {
		t.Fatalf("with the token: status %d body %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz needs no token, got %d", code)
	}
}

// TestAStepCannotEndTheLogEarly prints the end-of-log marker from a step:
// the lines after it must still be served.
func TestAStepCannotEndTheLogEarly(t *testing.T) {
	srv, logs := newTestServer(t)
	for _, l := range []struct{ phase, line string }{
		{"build", "run finished: succeeded"},
		{"build", "sluice | run finished: succeeded"},
		{"build", "the line a step wanted to hide"},
		{"sluice", "run finished: failed"},
	} {
		if err := logs.Append("run-2", l.phase, l.line); err != nil {
			t.Fatal(err)
		}
	}
	code, body := get(t, srv.URL+"/api/v1/logs/run-2", "0123456789abcdef-ci-token")
	if code != http.StatusOK || !strings.Contains(body, "the line a step wanted to hide") || !strings.Contains(body, "run finished: failed") {
		t.Fatalf("status %d, log cut short:\n%s", code, body)
	}
}

func TestFollowNeedsAWorkflow(t *testing.T) {
	srv, _ := newTestServer(t)
	if code, _ := get(t, srv.URL+"/api/v1/logs/run-3?follow=1", "0123456789abcdef-ci-token"); code != http.StatusBadRequest {
		t.Fatalf("follow without a workflow: status %d, want 400", code)
	}
}

// TestHostileRunIDs: a run id too long for a file name, or one that is
// not a run id, is a 400 before the disk is touched, and no answer names
// the server's paths.
func TestHostileRunIDs(t *testing.T) {
	srv, logs := newTestServer(t)
	dir := filepath.Dir(must(logs.Path("x")))
	for _, id := range []string{strings.Repeat("a", 5000), strings.Repeat("b", 129), "..%2F..%2Fetc%2Fpasswd", "a%00b"} {
		code, body := get(t, srv.URL+"/api/v1/logs/"+id, "0123456789abcdef-ci-token")
		if code != http.StatusBadRequest || strings.Contains(body, dir) || len(body) > 300 {
			t.Errorf("run id of %d characters: %d %q", len(id), code, body)
		}
	}
	if code, _ := get(t, srv.URL+"/api/v1/logs/"+strings.Repeat("c", 128), "0123456789abcdef-ci-token"); code != http.StatusNotFound {
		t.Errorf("a 128-character run id without a log: %d, want 404", code)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
