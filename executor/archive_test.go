package executor

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func cacheWorkspace(t *testing.T) (*Local, Handle) {
	t.Helper()
	l := &Local{Root: t.TempDir()}
	dir := filepath.Join(l.Root, "run-1.unit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return l, l.handle(dir)
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestArchiveRoundTrip: the paths' files come back at the same paths in
// another workspace; a path that is not there is left out; links are not
// archived (a step's link to /etc stays behind).
func TestArchiveRoundTrip(t *testing.T) {
	ctx := context.Background()
	l, h := cacheWorkspace(t)
	write(t, h.Path, ".cache/go-build/ab/one", "1")
	write(t, h.Path, ".cache/go-build/cd/two", "22")
	write(t, h.Path, "vendor/mod.txt", "m")
	write(t, h.Path, "other.txt", "not cached")
	if err := os.Symlink("/etc", filepath.Join(h.Path, ".cache/go-build/etc")); err != nil {
		t.Fatal(err)
	}
	data, err := l.Archive(ctx, h, []string{".cache/go-build", "vendor/mod.txt", "absent"}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	l2, h2 := cacheWorkspace(t)
	if err := l2.Extract(ctx, h2, data); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{".cache/go-build/ab/one": "1", ".cache/go-build/cd/two": "22", "vendor/mod.txt": "m"} {
		if got, err := os.ReadFile(filepath.Join(h2.Path, rel)); err != nil || string(got) != want {
			t.Errorf("%s = %q %v, want %q", rel, got, err, want)
		}
	}
	for _, rel := range []string{"other.txt", ".cache/go-build/etc"} {
		if _, err := os.Lstat(filepath.Join(h2.Path, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s came along: %v", rel, err)
		}
	}
	if empty, err := l.Archive(ctx, h, []string{"absent"}, 1<<20); err != nil || len(empty) != 0 {
		t.Errorf("nothing there: %d bytes, %v", len(empty), err)
	}
	if _, err := l.Archive(ctx, h, []string{".cache"}, 2); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

// TestExtractRefusesEscapes: a cache from the registry is not trusted to
// stay inside the workspace.
func TestExtractRefusesEscapes(t *testing.T) {
	for _, hdr := range []tar.Header{
		{Name: "../outside", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
		{Name: "/etc/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte("x"))
		}
		tw.Close()
		l, h := cacheWorkspace(t)
		err := l.Extract(context.Background(), h, buf.Bytes())
		if err == nil || !strings.Contains(err.Error(), hdr.Name) {
			t.Errorf("%s: %v", hdr.Name, err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(h.Path), "outside")); err == nil {
			t.Errorf("%s was written outside the workspace", hdr.Name)
		}
	}
}
