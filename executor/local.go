package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-cd/sluice/gitsrc"
)

// Local runs commands as processes on this machine, each workspace a
// directory under Root. Commands get a small, explicit environment — never
// the worker's own, which may hold credentials.
type Local struct {
	Root string
	// PassEnv names worker environment variables handed to commands
	// (toolchain locations). Defaults to DefaultPassEnv.
	PassEnv []string
	// KillGrace is how long a cancelled command gets between SIGTERM and
	// SIGKILL. Default 5s.
	KillGrace time.Duration
}

// DefaultPassEnv is what build tools need to find themselves and their caches.
var DefaultPassEnv = []string{
	"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR",
	"GOPATH", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOFLAGS", "GOTOOLCHAIN", "GONOSUMDB", "GOPRIVATE",
}

var _ Executor = (*Local)(nil)

var safeKey = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (l *Local) dir(key string) string {
	return filepath.Join(l.Root, safeKey.ReplaceAllString(key, "_"))
}

// Prepare checks the commit out under Root/<key>, or reuses existing.
func (l *Local) Prepare(ctx context.Context, ws Workspace, existing string) (string, error) {
	if existing != "" && l.inside(existing) {
		if head, err := gitsrc.Head(existing); err == nil && head == ws.Commit {
			return existing, nil
		}
	}
	dir := l.dir(ws.Key)
	if head, err := gitsrc.Head(dir); err == nil && head == ws.Commit {
		return dir, nil // a retried attempt of the same phase
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clear workspace: %w", err)
	}
	if err := gitsrc.Checkout(ctx, ws.CloneURL, ws.Commit, dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func (l *Local) inside(dir string) bool {
	rel, err := filepath.Rel(l.Root, dir)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}

// Run starts `sh -c script` in its own process group so cancellation and
// timeouts reach every process the script started.
func (l *Local) Run(ctx context.Context, handle string, c Command, out io.Writer) (Result, error) {
	if !l.inside(handle) {
		return Result{}, fmt.Errorf("workspace %q is not under %s", handle, l.Root)
	}
	if _, err := os.Stat(handle); err != nil {
		return Result{}, fmt.Errorf("%w: %s", ErrWorkspaceGone, handle)
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	cmd := exec.Command("/bin/sh", "-c", c.Script)
	cmd.Dir = handle
	cmd.Env = l.env(handle, c.Env)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start command: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		l.killGroup(cmd.Process.Pid, waited)
		err = <-waited
		res := Result{ExitCode: -1, Duration: time.Since(start), TimedOut: errors.Is(ctx.Err(), context.DeadlineExceeded)}
		if res.TimedOut {
			return res, nil
		}
		return res, ctx.Err()
	}
	res := Result{Duration: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	default:
		return res, fmt.Errorf("wait for command: %w", err)
	}
	return res, nil
}

// killGroup sends SIGTERM to the process group, then SIGKILL after the grace.
func (l *Local) killGroup(pid int, waited chan error) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	grace := l.KillGrace
	if grace == 0 {
		grace = 5 * time.Second
	}
	select {
	case err := <-waited:
		waited <- err
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

func (l *Local) env(dir string, extra map[string]string) []string {
	pass := l.PassEnv
	if pass == nil {
		pass = DefaultPassEnv
	}
	env := map[string]string{"SLUICE": "true", "CI": "true", "SLUICE_WORKSPACE": dir}
	for _, k := range pass {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Release deletes the workspace directory.
func (l *Local) Release(_ context.Context, handle string) error {
	if handle == "" || !l.inside(handle) {
		return nil
	}
	return os.RemoveAll(handle)
}
