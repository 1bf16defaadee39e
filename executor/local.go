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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor/stepguard"
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
	// User, when set, is the account commands run as (see StepUser); the
	// worker must be root. Call Init before use.
	User *StepUser
	// Home is HOME for commands run as User. Default Root/.home.
	Home string
	// SecretDir is where secrets handed over as files are written, each
	// command's in a directory of its own. Default /dev/shm (memory), else
	// the temporary directory.
	SecretDir string
}

// DefaultPassEnv is what build tools need to find themselves and their caches.
var DefaultPassEnv = []string{
	"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR",
	"GOPATH", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOFLAGS", "GOTOOLCHAIN", "GONOSUMDB", "GOPRIVATE",
}

var _ Executor = (*Local)(nil)

var safeKey = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Kind is contract.WorkspaceLocal.
func (l *Local) Kind() string { return contract.WorkspaceLocal }

func (l *Local) dir(key string) string {
	return filepath.Join(l.Root, safeKey.ReplaceAllString(key, "_"))
}

func (l *Local) handle(dir string) Handle { return Handle{Kind: contract.WorkspaceLocal, Path: dir} }

// Prepare checks the commit out under Root/<key>, or reuses existing.
func (l *Local) Prepare(ctx context.Context, co Checkout, existing Handle) (Handle, error) {
	if existing.Kind == contract.WorkspaceLocal && l.inside(existing.Path) && gitsrc.MergedAt(existing.Path, co.Commit, co.Merge) {
		return existing, nil
	}
	dir := l.dir(co.Key)
	if gitsrc.MergedAt(dir, co.Commit, co.Merge) {
		return l.handle(dir), nil // a retried attempt of the same phase
	}
	if err := l.endEarlierAttempt(dir); err != nil {
		return Handle{}, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return Handle{}, fmt.Errorf("clear workspace: %w", err)
	}
	if err := gitsrc.CheckoutMerged(ctx, co.CloneURL, co.Commit, co.Merge, dir); err != nil {
		os.RemoveAll(dir)
		return Handle{}, err
	}
	if err := l.User.own(dir); err != nil {
		os.RemoveAll(dir)
		return Handle{}, fmt.Errorf("give the workspace to the step user: %w", err)
	}
	return l.handle(dir), nil
}

func (l *Local) inside(dir string) bool {
	rel, err := filepath.Rel(l.Root, dir)
	// names starting with "." are the executor's own (.groups)
	return err == nil && filepath.IsLocal(rel) && !strings.ContainsRune(rel, filepath.Separator) && !strings.HasPrefix(rel, ".")
}

func (l *Local) check(h Handle) error {
	if h.Kind != contract.WorkspaceLocal || !l.inside(h.Path) {
		return fmt.Errorf("workspace %s is not a local workspace under %s", h, l.Root)
	}
	if _, err := os.Stat(h.Path); err != nil {
		return fmt.Errorf("%w: %s", ErrWorkspaceGone, h.Path)
	}
	return nil
}

// Run starts `sh -c script` in its own process group so cancellation and
// timeouts reach every process the script started, under a guard that
// ends the group when the worker dies. The group is also recorded next to
// the workspace, so an attempt that lost its worker (kill -9) is ended
// before a retry runs anything in the same workspace, if anything of it
// is left.
func (l *Local) Run(ctx context.Context, h Handle, c Command, out io.Writer) (Result, error) {
	if err := l.check(h); err != nil {
		return Result{}, err
	}
	if err := l.endEarlierAttempt(h.Path); err != nil {
		return Result{}, err
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	// The guard (package stepguard) leads the group and runs the shell in it;
	// if the worker dies, its Pdeathsig has the guard end the group.
	// Credential (when set) makes the guard and the commands the
	// unprivileged step user.
	files, err := l.writeSecretFiles(c.SecretFiles)
	if err != nil {
		return Result{}, err
	}
	defer files.remove()
	cmd := stepguard.Command(c.Script)
	cmd.Dir = h.Path
	cmd.Env = append(l.env(h.Path, c.Env, c.Secrets, files.env), stepguard.ParentEnv+"="+strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM, Credential: l.User.credential()}
	// A process that left the group (setsid) may hold the output pipe open;
	// never wait for it longer than the kill grace.
	cmd.WaitDelay = l.grace() + time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, os.ErrPermission) && l.User != nil {
			exe, _ := os.Executable()
			return Result{}, fmt.Errorf("start command: the step user (uid %d) cannot execute this worker's binary %s, which guards every step: make it executable by others (chmod 755): %w", l.User.UID, exe, err)
		}
		return Result{}, fmt.Errorf("start command: %w", err)
	}
	record := groupFile(h.Path)
	if err := writeGroup(record, cmd.Process.Pid); err != nil {
		l.killGroup(cmd.Process.Pid, nil)
		_ = cmd.Wait()
		return Result{}, err
	}
	defer os.Remove(record)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
		// the shell is gone; end whatever it left behind in its group
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	case <-ctx.Done():
		l.killGroup(cmd.Process.Pid, waited)
		<-waited //nolint:errcheck // the command's own error says nothing more than ctx's
		res := Result{ExitCode: -1, Duration: time.Since(start), TimedOut: errors.Is(ctx.Err(), context.DeadlineExceeded)}
		if res.TimedOut {
			return res, nil
		}
		return res, ctx.Err()
	}
	res := Result{Duration: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	default:
		return res, fmt.Errorf("wait for command: %w", err)
	}
	return res, nil
}

// ReadFile reads a file inside the workspace; symlinks that leave it are refused.
func (l *Local) ReadFile(_ context.Context, h Handle, rel string, limit int64) ([]byte, error) {
	root, err := l.root(h)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w (over %d bytes)", rel, ErrTooLarge, limit)
	}
	return b, nil
}

// root opens a local workspace as an os.Root: what is read or written
// through it stays inside, whatever links a step planted.
func (l *Local) root(h Handle) (*os.Root, error) {
	if err := l.check(h); err != nil {
		return nil, err
	}
	return os.OpenRoot(h.Path)
}

func (l *Local) grace() time.Duration {
	if l.KillGrace == 0 {
		return 5 * time.Second
	}
	return l.KillGrace
}

// killGroup sends SIGTERM to the process group, then SIGKILL after the grace.
func (l *Local) killGroup(pid int, waited chan error) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	if waited != nil {
		select {
		case err := <-waited:
			waited <- err
		case <-time.After(l.grace()):
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

func (l *Local) env(dir string, extra ...map[string]string) []string {
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
	if l.User.credential() != nil {
		// the worker's home and caches are not the step user's: tools
		// derive theirs from HOME
		for _, k := range []string{"GOPATH", "GOCACHE", "GOMODCACHE", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"} {
			delete(env, k)
		}
		env["HOME"], env["USER"] = l.home(), "sluice-step"
	}
	for _, m := range extra {
		for k, v := range m {
			env[k] = v
		}
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Release ends anything still running in the workspace and deletes it.
func (l *Local) Release(_ context.Context, h Handle) error {
	if h.Kind != contract.WorkspaceLocal || !l.inside(h.Path) {
		return nil
	}
	if err := l.endEarlierAttempt(h.Path); err != nil {
		return err
	}
	return os.RemoveAll(h.Path)
}
