// Package logstore keeps each run's step output in one append-only file,
// prefixed by phase, with secrets redacted before anything is written.
package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Store is a directory of run logs. It is safe for concurrent use. Logs
// are readable by the server's user only.
type Store struct {
	dir string
	// forms are every secret in every form it is redacted in, longest first.
	forms []string
	// ship, when set (Ship), ships what is written to object storage.
	ship *shipper
}

// MinSecret is the shortest secret New accepts.
const MinSecret = 8

// New returns a store in dir; secrets are values that must never be written,
// in any common encoding. A secret shorter than MinSecret is refused: it
// could not be redacted without redacting ordinary words.
func New(dir string, secrets []string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	s := &Store{dir: dir}
	for i, sec := range secrets {
		if len(sec) < MinSecret {
			return nil, fmt.Errorf("secret #%d is shorter than %d characters: too short to redact from logs safely", i+1, MinSecret)
		}
		s.forms = append(s.forms, variants(sec)...)
	}
	slices.SortFunc(s.forms, func(a, b string) int { return len(b) - len(a) })
	s.forms = slices.Compact(s.forms)
	return s, nil
}

// WithSecrets returns a store of the same directory that also redacts
// values (a phase's pipeline secrets, each at least MinSecret long) from
// what it writes; s is unchanged. Values shorter than MinSecret are left
// to their reader to refuse.
func (s *Store) WithSecrets(values []string) *Store {
	if len(values) == 0 {
		return s
	}
	d := &Store{dir: s.dir, forms: slices.Clone(s.forms), ship: s.ship}
	for _, v := range values {
		if len(v) >= MinSecret {
			d.forms = append(d.forms, variants(v)...)
		}
	}
	slices.SortFunc(d.forms, func(a, b string) int { return len(b) - len(a) })
	d.forms = slices.Compact(d.forms)
	return d
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// MaxRunIDLength bounds a run id (Temporal's are 36-character UUIDs), so a
// hostile one is refused before it reaches the file system.
const MaxRunIDLength = 128

// Path is the log file of a run.
func (s *Store) Path(runID string) (string, error) {
	if err := checkRunID(runID); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, runID+".log"), nil
}

func checkRunID(runID string) error {
	if len(runID) > MaxRunIDLength {
		return fmt.Errorf("invalid run id: %d characters, at most %d", len(runID), MaxRunIDLength)
	}
	if !safeID.MatchString(runID) {
		return fmt.Errorf("invalid run id %q", runID)
	}
	return nil
}

// Writer returns a writer that appends phase-prefixed, redacted lines to the
// run's log. Partial lines are held until their newline or Close.
func (s *Store) Writer(runID, phase string) (io.WriteCloser, error) {
	p, err := s.Path(runID)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &lineWriter{f: f, prefix: []byte(phase + " | "), s: s, run: runID}, nil
}

// Append writes one line to the run's log.
func (s *Store) Append(runID, phase, line string) error {
	w, err := s.Writer(runID, phase)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, strings.TrimRight(line, "\n")+"\n")
	return errors.Join(err, w.Close())
}

type lineWriter struct {
	mu     sync.Mutex
	f      *os.File
	prefix []byte
	buf    []byte
	s      *Store
	run    string
}

// maxLine bounds a held partial line so a command printing without newlines
// cannot grow memory without limit.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxLine {
				i = len(w.buf) - 1
			} else {
				break
			}
		}
		if err := w.emit(w.buf[:i+1]); err != nil {
			return 0, err
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) emit(line []byte) error {
	out := make([]byte, 0, len(w.prefix)+len(line)+1)
	out = append(out, w.prefix...)
	out = append(out, w.s.Redact(line)...)
	if out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	_, err := w.f.Write(out)
	if w.s.ship != nil {
		w.s.ship.written(w.run)
	}
	return err
}

func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if len(w.buf) > 0 {
		err = w.emit(w.buf)
		w.buf = nil
	}
	err = errors.Join(err, w.f.Close())
	if w.s.ship != nil {
		w.s.ship.closed(w.run)
	}
	return err
}

// EndOfLog is the prefix of the last line of every run's log (written by
// the notice of the run's end); a reader that follows a log stops there.
const EndOfLog = "run finished: "
