package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/testenv"
)

func dockerContext(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "app.txt"), []byte("the app\n"), 0o644)
	return dir
}

// TestBakePushesByDigestWithCache builds on the local platform's BuildKit:
// the image is pushed, the commit tag names the returned digest, the build
// cache is in the registry, and a rebuild of the same source takes every
// step from the cache.
func TestBakePushesByDigestWithCache(t *testing.T) {
	p := testenv.Require(t)
	stamp := fmt.Sprint(time.Now().UnixNano())
	dir := dockerContext(t, fmt.Sprintf("FROM %s/sluice/busybox:latest\nARG GREETING\nCOPY app.txt /app.txt\nRUN echo \"$GREETING %s\" > /baked.txt\n", p.Registry, stamp))
	repo := p.Registry + "/sluice-test/bake-" + stamp
	b := &Builder{Addr: p.BuildKitAddr}
	var log bytes.Buffer
	ctx := context.Background()
	commit := strings.Repeat("ab", 20)
	res, err := b.Bake(ctx, Bake{ContextDir: dir, BuildArgs: map[string]string{"GREETING": "hi"}, Repository: repo, Tags: []string{"abc123"},
		Source: "https://git.example.com/acme/app.git", Revision: commit, Run: "run-1"}, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	// the run finds its image again by the tag; another run does not
	for run, want := range map[string]string{"run-1": res.Digest, "run-2": ""} {
		if got, err := BakedBy(ctx, repo, "abc123", run); err != nil || got != want {
			t.Fatalf("BakedBy %s = %q %v, want %q", run, got, err, want)
		}
	}
	if got, err := Digest(ctx, repo, "abc123"); err != nil || got != res.Digest || !strings.HasPrefix(res.Digest, "sha256:") {
		t.Fatalf("tag abc123 = %s %v, want %s", got, err, res.Digest)
	}
	if _, err := Digest(ctx, repo, "buildcache"); err != nil {
		t.Fatalf("no build cache in the registry: %v", err)
	}
	if !strings.Contains(log.String(), "RUN echo") {
		t.Errorf("progress lacks the RUN step:\n%s", log.String())
	}
	log.Reset()
	again, err := b.Bake(ctx, Bake{ContextDir: dir, BuildArgs: map[string]string{"GREETING": "hi"}, Repository: repo, Tags: []string{"abc123"}}, &log)
	if err != nil || again.CacheHits == 0 {
		t.Fatalf("rebuild: %+v %v\n%s", again, err, log.String())
	}
	if got, err := BakedBy(ctx, repo, "abc123", "run-1"); err != nil || got != "" {
		t.Fatalf("the tag now names another bake's image, yet BakedBy run-1 = %q %v", got, err)
	}
	// The image is the same; each build's provenance is its own.
	first, err := ReadProvenance(ctx, repo, res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ReadProvenance(ctx, repo, again.Digest)
	if err != nil || second.Image != first.Image {
		t.Fatalf("the rebuild's image %s differs from %s: %v", second.Image, first.Image, err)
	}
	if !strings.HasPrefix(first.PredicateType, "https://slsa.dev/provenance/") || !strings.Contains(string(first.Statement), "GREETING") ||
		!strings.Contains(string(first.Statement), commit) || !strings.Contains(string(first.Statement), "git.example.com/acme/app.git") {
		t.Fatalf("provenance %s lacks the build's arguments, commit or source:\n%.2000s", first.PredicateType, first.Statement)
	}
	t.Logf("rebuild: %d of %d steps cached", again.CacheHits, again.Steps)
}

// TestBakeFailureNamesTheDockerfileLine: a failing step is a build error
// (not retried) that says where in the Dockerfile it is.
func TestBakeFailureNamesTheDockerfileLine(t *testing.T) {
	p := testenv.Require(t)
	dir := dockerContext(t, fmt.Sprintf("FROM %s/sluice/busybox:latest\nRUN echo fine\nRUN echo broken && exit 3\n", p.Registry))
	var log bytes.Buffer
	_, err := (&Builder{Addr: p.BuildKitAddr}).Bake(context.Background(), Bake{ContextDir: dir, Repository: p.Registry + "/sluice-test/broken"}, &log)
	if !errors.Is(err, ErrBuild) || !strings.Contains(err.Error(), "Dockerfile:3") || !strings.Contains(err.Error(), "exit code: 3") {
		t.Fatalf("err = %v\nlog:\n%s", err, log.String())
	}
}

// TestTagMarksOnlyWhatExistsAndUntagOnlyWhatIsOurs: the available tag is
// added to a pushed digest only; removing it leaves a tag that a later run
// moved to another digest.
func TestTagMarksOnlyWhatExistsAndUntagOnlyWhatIsOurs(t *testing.T) {
	p := testenv.Require(t)
	ctx := context.Background()
	stamp := fmt.Sprint(time.Now().UnixNano())
	repo := p.Registry + "/sluice-test/tag-" + stamp
	b := &Builder{Addr: p.BuildKitAddr}
	var digests []string
	for i := range 2 {
		dir := dockerContext(t, fmt.Sprintf("FROM %s/sluice/busybox:latest\nRUN echo %s-%d > /v\n", p.Registry, stamp, i))
		res, err := b.Bake(ctx, Bake{ContextDir: dir, Repository: repo, Tags: []string{fmt.Sprint(i)}}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, res.Digest)
	}
	if err := Tag(ctx, repo, "sha256:"+strings.Repeat("0", 64), "available"); err == nil {
		t.Fatal("tagged a digest that is not in the registry")
	}
	if err := Tag(ctx, repo, digests[0], "available"); err != nil {
		t.Fatal(err)
	}
	if err := Tag(ctx, repo, digests[1], "available"); err != nil { // a later run
		t.Fatal(err)
	}
	if err := Untag(ctx, repo, digests[0], "available"); err != nil {
		t.Fatal(err)
	}
	if got, err := Digest(ctx, repo, "available"); err != nil || got != digests[1] {
		t.Fatalf("the later run's tag: %s %v", got, err)
	}
	if err := Untag(ctx, repo, digests[1], "available"); err != nil {
		t.Fatal(err)
	}
	if _, err := Digest(ctx, repo, "available"); err == nil {
		t.Fatal("the tag is still there")
	}
	if err := Untag(ctx, repo, digests[1], "available"); err != nil {
		t.Fatalf("removing a missing tag: %v", err)
	}
}

// TestUnreachableBuildKitIsAClearError: a BuildKit that does not answer is
// an error naming its address (retryable), not a build failure.
func TestUnreachableBuildKitIsAClearError(t *testing.T) {
	addr := "unix://" + filepath.Join(t.TempDir(), "no-buildkitd.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := (&Builder{Addr: addr}).Bake(ctx, Bake{ContextDir: t.TempDir(), Repository: "127.0.0.1:5000/x"}, &bytes.Buffer{})
	if err == nil || errors.Is(err, ErrBuild) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("want a retryable error naming %s, got %v", addr, err)
	}
}
