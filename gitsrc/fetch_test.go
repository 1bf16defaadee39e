package gitsrc

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// bigRepo makes a repository whose history holds an incompressible blob of
// size bytes that the tip no longer has, and serves it over HTTP.
func bigRepo(t *testing.T, size int, keepAtTip bool) (*gitsrctest.Server, string, string) {
	t.Helper()
	root := t.TempDir()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "README"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, _ := gitsrctest.Repo(t, src, "version: 1\n")
	big := make([]byte, size)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "blob.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	gitsrctest.Commit(t, dir, "add a large file")
	if !keepAtTip {
		if err := os.Remove(filepath.Join(dir, "blob.bin")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".sluice.yml"), []byte("version: 1\nname: big\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tip := gitsrctest.Commit(t, dir, "tip")
	if err := os.Rename(filepath.Join(dir, ".git"), filepath.Join(root, "big.git")); err != nil {
		t.Fatal(err)
	}
	return gitsrctest.Serve(t, root), "/big.git", tip
}

// TestReadFileFetchesOnlyTheCommit: reading the spec of a pushed commit
// from a remote fetches that commit's tree, not the history — a webhook
// must be answered within the Git host's 10 s however large the repository.
func TestReadFileFetchesOnlyTheCommit(t *testing.T) {
	const size = 4 << 20
	srv, repo, tip := bigRepo(t, size, false)
	b, info, err := ReadFile(context.Background(), srv.URL+repo, "main", tip, ".sluice.yml")
	if err != nil || !strings.Contains(string(b), "name: big") || info.SHA != tip {
		t.Fatalf("ReadFile = %q %+v %v", b, info, err)
	}
	if srv.Sent() >= size/4 {
		t.Fatalf("reading one file transferred %d bytes; the history's %d-byte blob was fetched", srv.Sent(), size)
	}
	t.Logf("transferred %d bytes for a repository with a %d-byte blob in its history", srv.Sent(), size)
}

// TestReadFileRefusesOversizedFetch: a commit whose tree alone is larger
// than MaxFetchBytes is refused with a clear error, not held in memory.
func TestReadFileRefusesOversizedFetch(t *testing.T) {
	defer func(old int64) { MaxFetchBytes = old }(MaxFetchBytes)
	MaxFetchBytes = 1 << 20
	srv, repo, tip := bigRepo(t, 2<<20, true)
	_, _, err := ReadFile(context.Background(), srv.URL+repo, "main", tip, ".sluice.yml")
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadFile = %v, want ErrTooLarge", err)
	}
}

// TestReadFileFindsACommitBehindTheTip: a push whose commit the branch has
// already moved past is still read (a deeper fetch).
func TestReadFileFindsACommitBehindTheTip(t *testing.T) {
	root := t.TempDir()
	dir, first := gitsrctest.Repo(t, "../examples/hello", "")
	if err := os.WriteFile(filepath.Join(dir, "NEWS"), []byte("later\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitsrctest.Commit(t, dir, "later")
	if err := os.Rename(filepath.Join(dir, ".git"), filepath.Join(root, "hello.git")); err != nil {
		t.Fatal(err)
	}
	srv := gitsrctest.Serve(t, root)
	b, _, err := ReadFile(context.Background(), srv.URL+"/hello.git", "main", first, ".sluice.yml")
	if err != nil || !strings.Contains(string(b), "name: hello") {
		t.Fatalf("ReadFile behind the tip = %q %v", b, err)
	}
}
