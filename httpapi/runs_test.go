package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/policy"
)

// TestRunSource: a server without repositories runs the caller's path; a
// server that governs projects runs only its configured repositories,
// from their own clone URLs, whatever path or name a caller sends.
func TestRunSource(t *testing.T) {
	open := &Server{Config: &config.Config{}}
	if src, code, err := open.runSource(RunRequest{Repo: "/srv/git/hello", Branch: "main", Name: "acme/hello"}); err != nil || code != 0 || src.CloneURL != "/srv/git/hello" || src.Repo != "acme/hello" {
		t.Fatalf("a server without repositories: %+v %d %v", src, code, err)
	}
	governed := &Server{Config: &config.Config{Projects: []policy.Project{{Name: "acme", Repositories: []string{"acme/hello"}}}}}
	src, code, err := governed.runSource(RunRequest{Repo: "/tmp/my-fork", Branch: "main", Name: "acme/hello"})
	if err == nil || code != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "under repositories") {
		t.Fatalf("a caller's path on a server with projects: %+v %d %v", src, code, err)
	}
	governed.Config.Repositories = []config.Repository{{Name: "acme/hello", CloneURL: "https://git.example/acme/hello.git"}}
	if src, _, err := governed.runSource(RunRequest{Repo: "acme/hello", Branch: "main", Name: "other/name"}); err != nil || src.CloneURL != "https://git.example/acme/hello.git" || src.Repo != "acme/hello" {
		t.Fatalf("a configured repository: %+v %v", src, err)
	}
	if _, code, err := governed.runSource(RunRequest{Repo: "/tmp/my-fork", Branch: "main"}); err == nil || code != http.StatusNotFound {
		t.Fatalf("an unconfigured path: %d %v", code, err)
	}
}
