package gitsrc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// monorepo is a repository with two services: main's second commit
// changes services/api; branch feature (from the first) changes docs; an
// annotated tag v1 names main's tip; a branch called refs/tags/v2 poses
// as a tag. It is served over HTTP as well.
type monorepo struct {
	dir, url                  string
	first, second, feature    string
	tagObject, posingAsTagTip string
}

func newMonorepo(t *testing.T) monorepo {
	t.Helper()
	src := t.TempDir()
	write(t, src, "services/api/main.go", "package main\n")
	write(t, src, "services/web/main.go", "package main\n")
	m := monorepo{}
	m.dir, m.first = gitsrctest.Repo(t, src, "version: 1\n")
	write(t, m.dir, "services/api/main.go", "package main // changed\n")
	m.second = gitsrctest.Commit(t, m.dir, "api")
	gitsrctest.Git(t, m.dir, "tag", "-a", "v1", "-m", "release 1")
	m.tagObject = gitsrctest.Git(t, m.dir, "rev-parse", "v1")
	gitsrctest.Git(t, m.dir, "checkout", "-q", "-b", "feature", m.first)
	write(t, m.dir, "docs/guide.md", "# guide\n")
	m.feature = gitsrctest.Commit(t, m.dir, "docs")
	gitsrctest.Git(t, m.dir, "branch", "refs/tags/v2")
	m.posingAsTagTip = m.feature
	gitsrctest.Git(t, m.dir, "checkout", "-q", "main")
	root := t.TempDir()
	gitsrctest.Git(t, root, "clone", "-q", "--bare", m.dir, filepath.Join(root, "mono.git"))
	m.url = gitsrctest.Serve(t, root).URL + "/mono.git"
	return m
}

// TestChanged: the files a push changed, compared with the previous
// commit or, for a new branch, with the default branch's head — from a
// local repository and over HTTP; a base that cannot be found leaves the
// change unknown rather than empty.
func TestChanged(t *testing.T) {
	m := newMonorepo(t)
	ctx := context.Background()
	for _, url := range []string{m.dir, m.url} {
		c, err := Changed(ctx, url, "main", m.second, m.first)
		if err != nil || !c.Known || !slices.Equal(c.Files, []string{"services/api/main.go"}) {
			t.Errorf("%s: main's push = %+v %v", url, c, err)
		}
		c, err = Changed(ctx, url, "feature", m.feature, "main")
		if err != nil || !c.Known || !slices.Contains(c.Files, "docs/guide.md") || slices.Contains(c.Files, "services/web/main.go") {
			t.Errorf("%s: a new branch against main = %+v %v", url, c, err)
		}
		c, err = Changed(ctx, url, "main", m.second, strings.Repeat("ab", 20))
		if err != nil || c.Known || c.Why == "" {
			t.Errorf("%s: an unknown base = %+v %v, want unknown", url, c, err)
		}
		if c, err := Changed(ctx, url, "main", m.second, ""); err != nil || c.Known {
			t.Errorf("%s: no base = %+v %v, want unknown", url, c, err)
		}
	}
}

// TestTags: a tag resolves as refs/tags/NAME, its annotated object is read
// as the commit it tags, and a branch called refs/tags/v2 is never taken
// for a tag of that name.
func TestTags(t *testing.T) {
	m := newMonorepo(t)
	ctx := context.Background()
	for _, url := range []string{m.dir, m.url} {
		sha, err := Resolve(ctx, url, "refs/tags/v1")
		if err != nil || (sha != m.tagObject && sha != m.second) {
			t.Errorf("%s: refs/tags/v1 = %s %v", url, sha, err)
		}
		_, info, err := ReadFile(ctx, url, "refs/tags/v1", m.tagObject, ".sluice.yml")
		if err != nil || info.SHA != m.second {
			t.Errorf("%s: the tag's spec: %+v %v, want commit %s", url, info, err, m.second)
		}
		if sha, err := Resolve(ctx, url, "refs/tags/v2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: the branch posing as tag v2 resolved to %s (%v)", url, sha, err)
		}
	}
}

// TestTagCommit: a tag's commit, through its annotated object, locally
// and over HTTP (the peeled entry a Git host lists).
func TestTagCommit(t *testing.T) {
	m := newMonorepo(t)
	for _, url := range []string{m.dir, m.url} {
		if sha, err := TagCommit(context.Background(), url, "v1"); err != nil || sha != m.second {
			t.Errorf("%s: v1 = %s %v, want %s", url, sha, err, m.second)
		}
		if _, err := TagCommit(context.Background(), url, "v2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: v2 (a branch's name) = %v", url, err)
		}
	}
}

// TestChangedOfAHistoryTooLarge: a branch whose recent history is beyond
// the in-memory bound is compared with nothing (paths rules then hold),
// not failed: the push itself was readable.
func TestChangedOfAHistoryTooLarge(t *testing.T) {
	defer func(old int64) { MaxFetchBytes = old }(MaxFetchBytes)
	srv, repo, tip := bigRepo(t, 2<<20, false)
	MaxFetchBytes = 1 << 20
	c, err := Changed(context.Background(), srv.URL+repo, "main", tip, strings.Repeat("ab", 20))
	if err != nil || c.Known || !strings.Contains(c.Why, "too large") {
		t.Fatalf("Changed = %+v %v", c, err)
	}
}
