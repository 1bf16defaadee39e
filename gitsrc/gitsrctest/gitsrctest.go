// Package gitsrctest makes real Git repositories for tests.
package gitsrctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Author of every test commit; pipelines see it as the change's author.
const (
	AuthorName  = "carol"
	AuthorEmail = "carol@example.com"
)

// Repo copies src (a directory) into a new repository on branch main,
// replaces .sluice.yml with spec when spec is not empty, commits, and
// returns the repository's path and the commit.
func Repo(t testing.TB, src, spec string) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if spec != "" {
		if err := os.WriteFile(filepath.Join(dir, ".sluice.yml"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}}); err != nil {
		t.Fatal(err)
	}
	return dir, Commit(t, dir, "initial")
}

// Commit commits every change in the repository at dir.
func Commit(t testing.TB, dir, msg string) string {
	t.Helper()
	r, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: AuthorName, Email: AuthorEmail, When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// Git runs the git binary in dir as the test author, for what go-git
// does not do (annotated tags, branches of any name), and returns its
// trimmed output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_COMMITTER_NAME="+AuthorName, "GIT_COMMITTER_EMAIL="+AuthorEmail, "GIT_AUTHOR_NAME="+AuthorName, "GIT_AUTHOR_EMAIL="+AuthorEmail)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}
