package logstore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// buckets
	_ "gocloud.dev/blob/s3blob"   // s3:// buckets
	"gocloud.dev/gcerrors"
)

// Logs in object storage. Every process that writes logs keeps writing
// them to its own data dir first (nothing is lost while the store refuses
// writes) and ships what it wrote, in whole lines, as immutable chunks:
//
//	logs/<run>/<writer>/<start>-<end>
//
// where writer names the data dir that wrote them and start and end are
// the chunk's byte offsets in that data dir's file of the run. A chunk
// shipped again after a crash covers the same bytes or more, so a reader
// that follows each writer's offsets reads every byte once, whichever
// server it asks.

// OpenBucket opens the object store a URL names: file:///DIR (one
// machine, or a shared file system) or s3://BUCKET?region=…&endpoint=…
// (credentials from the environment: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, or the AWS SDK's other sources). It checks that
// the bucket can be read, so a wrong URL stops the process at start.
func OpenBucket(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("logs URL: %w", err)
	}
	if u.Scheme != "file" && u.Scheme != "s3" {
		return nil, fmt.Errorf("logs URL %s: the scheme must be file:// or s3://", u.Redacted())
	}
	if u.Scheme == "file" {
		if err := os.MkdirAll(u.Path, 0o700); err != nil {
			return nil, fmt.Errorf("logs URL %s: %w", u.Redacted(), err)
		}
	}
	b, err := blob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("logs URL %s: %w", u.Redacted(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := b.List(&blob.ListOptions{Prefix: "logs/"}).Next(ctx); err != nil && !errors.Is(err, io.EOF) {
		b.Close()
		return nil, fmt.Errorf("logs URL %s: the bucket cannot be read: %w", u.Redacted(), err)
	}
	return b, nil
}

// chunkKey is where the bytes [start, end) of writer's file of run go.
func chunkKey(run, writer string, start, end int64) string {
	return fmt.Sprintf("logs/%s/%s/%016d-%016d", run, writer, start, end)
}

// shipDelay is how long written lines wait to be shipped while a phase
// runs, so that a burst of lines goes as one chunk.
const shipDelay = 50 * time.Millisecond

// maxChunk bounds one chunk, so a phase that prints a lot at once is
// shipped in pieces a reader can start on.
const maxChunk = 4 << 20

// shipper ships a Store's files to a bucket.
type shipper struct {
	bucket *blob.Bucket
	dir    string
	writer string
	log    *slog.Logger

	mu    sync.Mutex  // held while shipping: one writer's chunks go in order
	dirty sync.Map    // run id → struct{}: written since last shipped
	down  atomic.Bool // the last write was refused
	kick  chan struct{}
	warn  time.Time // when a refusal was last logged
}

// Ship makes s ship every line it writes to bucket, within shipDelay
// while phases run and at once when a writer closes, until ctx ends. Lines
// written before (by an earlier process on this data dir) that were not
// shipped are shipped first. Failed writes are retried, and logged to log
// (nil: slog's default) once a minute; the local file keeps the lines
// meanwhile.
func (s *Store) Ship(ctx context.Context, bucket *blob.Bucket, log *slog.Logger) error {
	id, err := writerID(s.dir)
	if err != nil {
		return err
	}
	if log == nil {
		log = slog.Default()
	}
	sh := &shipper{bucket: bucket, dir: s.dir, writer: id, log: log, kick: make(chan struct{}, 1)}
	files, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
	for _, f := range files {
		run := strings.TrimSuffix(filepath.Base(f), ".log")
		if fi, err := os.Stat(f); err == nil && fi.Size() > sh.shipped(run) {
			sh.dirty.Store(run, struct{}{})
		}
	}
	s.ship = sh
	go sh.loop(ctx)
	return nil
}

// writerID is the data dir's name among a bucket's writers, made once.
func writerID(dir string) (string, error) {
	p := filepath.Join(dir, "writer-id")
	if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) == 16 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 8)
	_, _ = rand.Read(buf)
	id := hex.EncodeToString(buf)
	tmp := p + ".tmp" + id
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("log writer id: %w", err)
	}
	// two processes starting together on one data dir agree on one id
	if err := os.Link(tmp, p); err != nil && !errors.Is(err, os.ErrExist) {
		os.Remove(tmp)
		return "", fmt.Errorf("log writer id: %w", err)
	}
	os.Remove(tmp)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("log writer id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (sh *shipper) loop(ctx context.Context) {
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sh.kick:
			// gather what else is printed meanwhile into the same chunk
			select {
			case <-ctx.Done():
				return
			case <-time.After(shipDelay):
			}
		case <-retry.C:
		}
		sh.dirty.Range(func(k, _ any) bool {
			sh.dirty.Delete(k)
			fctx, cancel := context.WithTimeout(ctx, flushTimeout)
			defer cancel()
			if err := sh.flush(fctx, k.(string)); err != nil {
				sh.dirty.Store(k, struct{}{})
				sh.refused(k.(string), err)
				return false // the store is away: try again in a second
			}
			return ctx.Err() == nil
		})
	}
}

// flushTimeout bounds one attempt to ship a run's lines.
const flushTimeout = 20 * time.Second

// refused logs a write the store refused, at most once a minute.
func (sh *shipper) refused(run string, err error) {
	sh.down.Store(true)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if time.Since(sh.warn) > time.Minute {
		sh.warn = time.Now()
		sh.log.Warn("the log store refused a write; the lines stay in the data dir and are shipped when it takes them", "run", run, "error", err)
	}
}

// written marks run as having lines to ship.
func (sh *shipper) written(run string) {
	sh.dirty.Store(run, struct{}{})
	select {
	case sh.kick <- struct{}{}:
	default: // a shipment is due already
	}
}

// closed ships run's lines now, within a few seconds, so that what a phase
// printed is in the store when the phase ends; what cannot be shipped yet
// is left to the loop. While the store is away it does not wait for it:
// the phase goes on and its lines are shipped when the store is back.
func (sh *shipper) closed(run string) {
	if sh.down.Load() {
		sh.dirty.Store(run, struct{}{})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sh.flush(ctx, run); err != nil {
		sh.dirty.Store(run, struct{}{})
		sh.refused(run, err)
	}
}

func (sh *shipper) offsetFile(run string) string { return filepath.Join(sh.dir, run+".log.shipped") }

// shipped is how much of run's file is in the store (0 when unknown: a
// chunk shipped again is harmless).
func (sh *shipper) shipped(run string) int64 {
	b, err := os.ReadFile(sh.offsetFile(run))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// flush ships the whole lines of run's file not yet shipped.
func (sh *shipper) flush(ctx context.Context, run string) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	f, err := os.Open(filepath.Join(sh.dir, run+".log"))
	if err != nil {
		return nil // nothing written here
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	off := sh.shipped(run)
	for off < fi.Size() {
		// what is new since the last shipment, a piece at most: a phase
		// ships every 50 ms while it prints
		buf := make([]byte, min(fi.Size()-off, maxChunk))
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		buf = buf[:n]
		// whole lines only: a line being appended is shipped next time
		end := bytes.LastIndexByte(buf, '\n') + 1
		if end == 0 {
			return nil
		}
		key := chunkKey(run, sh.writer, off, off+int64(end))
		if err := sh.bucket.WriteAll(ctx, key, buf[:end], &blob.WriterOptions{ContentType: "text/plain; charset=utf-8"}); err != nil {
			return err
		}
		sh.down.Store(false)
		off += int64(end)
		if err := os.WriteFile(sh.offsetFile(run), []byte(strconv.FormatInt(off, 10)), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Follower reads a run's log from a bucket, every writer's lines once, in
// the order they were shipped.
type Follower struct {
	bucket *blob.Bucket
	run    string
	next   map[string]int64 // writer → offset read to
}

// NewFollower reads run's log from bucket; run is checked as Path checks
// it.
func NewFollower(bucket *blob.Bucket, run string) (*Follower, error) {
	if err := checkRunID(run); err != nil {
		return nil, err
	}
	return &Follower{bucket: bucket, run: run, next: map[string]int64{}}, nil
}

type chunk struct {
	key, writer string
	start, end  int64
	mod         time.Time
}

// Next returns the lines shipped since the last call (none: nothing new)
// and whether the run has any log in the store at all.
func (f *Follower) Next(ctx context.Context) ([]byte, bool, error) {
	prefix := "logs/" + f.run + "/"
	var chunks []chunk
	it := f.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, len(f.next) > 0, err
		}
		writer, span, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		a, b, ok2 := strings.Cut(span, "-")
		start, err1 := strconv.ParseInt(a, 10, 64)
		end, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil || end <= start {
			continue // not a chunk
		}
		if _, known := f.next[writer]; !known {
			f.next[writer] = 0
		}
		if end > f.next[writer] {
			chunks = append(chunks, chunk{key: o.Key, writer: writer, start: start, end: end, mod: o.ModTime})
		}
	}
	slices.SortFunc(chunks, func(x, y chunk) int {
		return cmp.Or(x.mod.Compare(y.mod), strings.Compare(x.writer, y.writer), cmp.Compare(x.start, y.start))
	})
	var out []byte
	blocked := map[string]bool{}
	for _, c := range chunks {
		next := f.next[c.writer]
		if blocked[c.writer] || c.end <= next {
			continue
		}
		if c.start > next {
			blocked[c.writer] = true // an earlier chunk is not listed yet
			continue
		}
		data, err := f.bucket.ReadAll(ctx, c.key)
		if gcerrors.Code(err) == gcerrors.NotFound {
			continue
		}
		if err != nil {
			return out, true, err
		}
		if int64(len(data)) != c.end-c.start {
			return out, true, fmt.Errorf("log chunk %s holds %d bytes, not %d", c.key, len(data), c.end-c.start)
		}
		out = append(out, data[next-c.start:]...)
		f.next[c.writer] = c.end
	}
	return out, len(f.next) > 0, nil
}

// Prune deletes the log pieces shipped before cutoff, and returns how many
// it deleted. A run's log goes piece by piece, oldest first, so a log
// being followed loses nothing it has not been past for a whole retention.
func Prune(ctx context.Context, bucket *blob.Bucket, cutoff time.Time) (int, error) {
	n := 0
	it := bucket.List(&blob.ListOptions{Prefix: "logs/"})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if o.IsDir || !o.ModTime.Before(cutoff) {
			continue
		}
		if err := bucket.Delete(ctx, o.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return n, err
		}
		n++
	}
}
