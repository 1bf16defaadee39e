package logstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/sluice-cd/sluice/testenv/benchq"
)

// BenchmarkLogLineDelay: the time from a step printing a line (a phase's
// log held open, as while it runs) to a reader seeing it. The baseline is
// a reader of the writer's own file (a server on the worker's data dir);
// against it, a reader of the object store, as a server on another
// machine reads it: a file:// bucket and a real S3-compatible server
// (SeaweedFS). The reader looks every 5 ms; a server following a log for
// a client looks every 200 ms (httpapi's FollowPoll), which adds up to
// that. p50 and p95 in ms.
func BenchmarkLogLineDelay(b *testing.B) {
	b.Run("baseline=file-tail", func(b *testing.B) {
		s, err := New(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		w, _ := s.Writer("run-1", "build")
		defer w.Close()
		p, _ := s.Path("run-1")
		f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		measure(b, w, func() []byte { data, _ := io.ReadAll(f); return data })
	})
	b.Run("store=file", func(b *testing.B) {
		bucket, _ := fileBucket(b)
		viaBucket(b, bucket)
	})
	b.Run("store=s3", func(b *testing.B) {
		bucket, _ := s3Bucket(b)
		viaBucket(b, bucket)
	})
}

func viaBucket(b *testing.B, bucket *blob.Bucket) {
	s, err := New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Ship(ctx, bucket, nil); err != nil {
		b.Fatal(err)
	}
	w, _ := s.Writer("run-1", "build")
	defer w.Close()
	f, _ := NewFollower(bucket, "run-1")
	measure(b, w, func() []byte {
		data, _, err := f.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return data
	})
}

// measure writes a line per iteration and waits for read to return it.
func measure(b *testing.B, w io.Writer, read func() []byte) {
	var ds []time.Duration
	var seen bytes.Buffer
	i := 0
	for b.Loop() {
		i++
		line := fmt.Sprintf("line %d\n", i)
		start := time.Now()
		io.WriteString(w, line)
		for !bytes.Contains(seen.Bytes(), []byte(line)) {
			if time.Since(start) > time.Minute {
				b.Fatalf("%q never arrived", line)
			}
			time.Sleep(5 * time.Millisecond)
			seen.Write(read())
		}
		ds = append(ds, time.Since(start))
	}
	benchq.Report(b, ds)
}
