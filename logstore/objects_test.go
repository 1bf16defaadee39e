package logstore

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/testenv/s3test"
)

func fileBucket(tb testing.TB) (*blob.Bucket, string) {
	tb.Helper()
	dir := tb.TempDir()
	return openBucket(tb, "file://"+dir), dir
}

// s3Bucket is a bucket of a SeaweedFS the test starts, and the server.
func s3Bucket(tb testing.TB) (*blob.Bucket, *s3test.Server) {
	tb.Helper()
	srv := s3test.Start(tb)
	url := srv.Bucket(tb, "logs")
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		tb.Setenv(k, v)
	}
	return openBucket(tb, url), srv
}

func openBucket(tb testing.TB, url string) *blob.Bucket {
	tb.Helper()
	b, err := OpenBucket(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

func shipping(t testing.TB, dir string, b *blob.Bucket) (*Store, context.CancelFunc) {
	t.Helper()
	s, err := New(dir, []string{"hunter2-token"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Ship(ctx, b, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		t.Fatal(err)
	}
	return s, cancel
}

// readAll follows run's log in b until it holds want lines.
func readAll(t testing.TB, b *blob.Bucket, run string, f *Follower, lines int) string {
	t.Helper()
	var got strings.Builder
	poll.UntilWithin(t, 10*time.Second, "the log of "+run+" in the store", func() bool {
		data, _, err := f.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got.Write(data)
		return strings.Count(got.String(), "\n") >= lines
	})
	return got.String()
}

// TestShipsWhileWritingAndOnClose: a reader of the bucket alone (another
// server) sees the lines while the phase still writes, redacted, and all
// of them once the writer is closed.
func TestShipsWhileWritingAndOnClose(t *testing.T) {
	b, _ := fileBucket(t)
	s, _ := shipping(t, t.TempDir(), b)
	w, err := s.Writer("run-1", "build")
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFollower(b, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "compiling with hunter2-token\n")
	if got := readAll(t, b, "run-1", f, 1); got != "build | compiling with [redacted]\n" {
		t.Fatalf("while the phase runs the store has %q", got)
	}
	io.WriteString(w, "done\nno newline yet")
	w.Close() // ships at once
	data, found, err := f.Next(context.Background())
	if err != nil || !found {
		t.Fatalf("after close: found %v, %v", found, err)
	}
	if string(data) != "build | done\nbuild | no newline yet\n" {
		t.Fatalf("after close the store adds %q", data)
	}
	if _, err := NewFollower(b, "../etc"); err == nil {
		t.Fatal("a run id that leaves the store was taken")
	}
	f2, _ := NewFollower(b, "run-2")
	if data, found, err := f2.Next(context.Background()); err != nil || found || len(data) > 0 {
		t.Fatalf("a run with no log: %q, found %v, %v", data, found, err)
	}
}

// TestShipsAfterRestartOnce: lines written while the store refused writes
// (or before a crash) are shipped by the next process on the data dir,
// and a chunk shipped again after a crash between the upload and its
// bookkeeping is read once.
func TestShipsAfterRestartOnce(t *testing.T) {
	b, _ := fileBucket(t)
	dir := t.TempDir()
	plain, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain.Append("run-1", "build", "one")
	plain.Append("run-1", "build", "two")
	s, cancel := shipping(t, dir, b)
	f, _ := NewFollower(b, "run-1")
	if got := readAll(t, b, "run-1", f, 2); got != "build | one\nbuild | two\n" {
		t.Fatalf("after the restart the store has %q", got)
	}
	cancel()
	// a crash after the upload and before the offset was kept
	os.Remove(filepath.Join(dir, "run-1.log.shipped"))
	plain.Append("run-1", "test", "three")
	shipping(t, dir, b)
	if got := readAll(t, b, "run-1", f, 1); got != "test | three\n" {
		t.Fatalf("after the second restart the reader gets %q", got)
	}
	all, _ := NewFollower(b, "run-1")
	if got := readAll(t, b, "run-1", all, 3); got != "build | one\nbuild | two\ntest | three\n" {
		t.Fatalf("a new reader gets %q", got)
	}
	_ = s
}

// TestTwoWritersOneRun: two workers with their own data dirs write phases
// of one run; a reader gets both, each line once, in the order shipped.
func TestTwoWritersOneRun(t *testing.T) {
	b, _ := fileBucket(t)
	a, _ := shipping(t, t.TempDir(), b)
	c, _ := shipping(t, t.TempDir(), b)
	f, _ := NewFollower(b, "run-1")
	a.Append("run-1", "build", "on worker a")
	readAll(t, b, "run-1", f, 1)
	c.Append("run-1", "test", "on worker c")
	readAll(t, b, "run-1", f, 1)
	all, _ := NewFollower(b, "run-1")
	if got := readAll(t, b, "run-1", all, 2); got != "build | on worker a\ntest | on worker c\n" {
		t.Fatalf("a reader of both gets %q", got)
	}
}

// TestOpenBucketRefusesWhatItCannotUse: a scheme other than file and s3,
// and an S3 endpoint nothing answers, stop the process at start, named
// without the URL's password.
func TestOpenBucketRefusesWhatItCannotUse(t *testing.T) {
	if _, err := OpenBucket(context.Background(), "gs://logs"); err == nil || !strings.Contains(err.Error(), "file:// or s3://") {
		t.Fatalf("gs://: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	_, err := OpenBucket(context.Background(), "s3://logs?region=us-east-1&endpoint=http://127.0.0.1:1&use_path_style=true")
	if err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Fatalf("an S3 endpoint nothing answers: %v", err)
	}
}

// TestShipsToS3 ships to a real S3-compatible server (SeaweedFS): a reader
// of the bucket follows the lines while they are written; while the server
// is down the lines stay in the data dir, and they arrive once it is back.
func TestShipsToS3(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts SeaweedFS")
	}
	b, srv := s3Bucket(t)
	s, _ := shipping(t, t.TempDir(), b)
	f, _ := NewFollower(b, "run-1")
	s.Append("run-1", "build", "one")
	if got := readAll(t, b, "run-1", f, 1); got != "build | one\n" {
		t.Fatalf("S3 has %q", got)
	}
	srv.Stop()
	if err := s.Append("run-1", "build", "two, while the store is down"); err != nil {
		t.Fatalf("a log line was refused while the store is down: %v", err)
	}
	srv.Restart(t)
	if got := readAll(t, b, "run-1", f, 1); got != "build | two, while the store is down\n" {
		t.Fatalf("after the store came back it has %q", got)
	}
}

// TestPrune: pieces shipped before the cutoff go, later ones stay.
func TestPrune(t *testing.T) {
	b, _ := fileBucket(t)
	s, _ := shipping(t, t.TempDir(), b)
	s.Append("run-old", "build", "old")
	readAll(t, b, "run-old", mustFollower(t, b, "run-old"), 1)
	cutoff := time.Now().Add(time.Second) // file mtimes have a second's grain on some systems
	poll.UntilWithin(t, 10*time.Second, "the clock to pass the cutoff", func() bool { return time.Now().After(cutoff.Add(time.Second)) })
	s.Append("run-new", "build", "new")
	readAll(t, b, "run-new", mustFollower(t, b, "run-new"), 1)
	n, err := Prune(context.Background(), b, cutoff)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the old run's one piece", n, err)
	}
	if data, found, _ := mustFollower(t, b, "run-old").Next(context.Background()); found || len(data) > 0 {
		t.Fatalf("the old run's log is still there: %q", data)
	}
	if data, _, _ := mustFollower(t, b, "run-new").Next(context.Background()); string(data) != "build | new\n" {
		t.Fatalf("the new run's log: %q", data)
	}
}

func mustFollower(t *testing.T, b *blob.Bucket, run string) *Follower {
	t.Helper()
	f, err := NewFollower(b, run)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
