package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor"
)

// Executor runs a phase's commands in a pod claimed from Pool: the
// workspace is the pod's /workspace, the lease is renewed while commands
// run, and releasing the workspace deletes the pod.
type Executor struct {
	Pool *Pool
	Exec *Execer
	// KillGrace is how long a cancelled command gets between SIGTERM and
	// SIGKILL. Default 5s.
	KillGrace time.Duration
}

var _ executor.Executor = (*Executor)(nil)

// Kind is contract.WorkspacePod.
func (x *Executor) Kind() string { return contract.WorkspacePod }

func (x *Executor) ns() string { return x.Pool.Spec.Namespace }

func (x *Executor) mine(h executor.Handle) bool {
	return h.Kind == contract.WorkspacePod && h.Pool == x.Pool.Spec.Name && h.Namespace == x.ns() && h.Pod != ""
}

// Prepare returns the run's pod with the commit in its workspace: the pod
// the run already holds (test after build, a retried attempt) when it still
// has the commit, or a freshly claimed one with the source copied in.
func (x *Executor) Prepare(ctx context.Context, co executor.Checkout, existing executor.Handle) (executor.Handle, error) {
	if x.mine(existing) && existing.Claim == co.Key {
		if err := x.Pool.Renew(ctx, existing.Pod, co.Key); err == nil && x.holds(ctx, existing.Pod, tree(co)) {
			return existing, nil
		}
	}
	pod, held, err := x.Pool.ClaimFor(ctx, Claimant{Run: co.Key, Project: co.Project, Share: co.Share, Waiting: co.Waiting})
	if err != nil {
		return executor.Handle{}, err
	}
	h := executor.Handle{Kind: contract.WorkspacePod, Pool: x.Pool.Spec.Name, Namespace: x.ns(), Pod: pod.Name, Claim: co.Key, Path: Workdir}
	if held && x.holds(ctx, pod.Name, tree(co)) {
		return h, nil // a retried attempt: the run's pod has the commit
	}
	if err := x.copySource(ctx, x.ns(), pod.Name, co); err != nil {
		_ = x.Pool.Release(context.WithoutCancel(ctx), pod.Name)
		return executor.Handle{}, err
	}
	return h, nil
}

// holds reports whether the pod's workspace has commit checked out.
// tree names what a checkout holds: the commit, or the commit merged with
// a merge request's target.
func tree(co executor.Checkout) string {
	if co.Merge != "" {
		return co.Commit + "+" + co.Merge
	}
	return co.Commit
}

func (x *Executor) holds(ctx context.Context, pod, commit string) bool {
	out, err := x.Exec.output(ctx, x.ns(), pod, "sh", "-c", "cat "+commitFile+" 2>/dev/null || true")
	return err == nil && strings.TrimSpace(out) == commit
}

func (x *Executor) grace() time.Duration {
	if x.KillGrace == 0 {
		return 5 * time.Second
	}
	return x.KillGrace
}

// Run runs the command in the pod as its own process group. A command an
// earlier, lost attempt left running is killed first (by the wrapper, in
// the same exec); cancellation and the timeout kill the whole group inside
// the container (closing the exec stream alone would leave it running).
func (x *Executor) Run(ctx context.Context, h executor.Handle, c executor.Command, out io.Writer) (executor.Result, error) {
	if !x.mine(h) {
		return executor.Result{}, fmt.Errorf("workspace %s is not a pod of pool %q", h, x.Pool.Spec.Name)
	}
	if err := x.Pool.Renew(ctx, h.Pod, h.Claim); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return executor.Result{}, fmt.Errorf("%w: %v", executor.ErrWorkspaceGone, err) //nolint:errorlint // only ErrWorkspaceGone classifies it: the cause is text
		}
		return executor.Result{}, err
	}
	stop := x.keepLease(ctx, h)
	defer stop()
	runCtx := ctx
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	w := &syncWriter{w: out}
	argv := append(envArgs(c.Env), "sh", "-c", scriptWrapper, "sluice", c.Script)
	var stdin io.Reader
	if len(c.Secrets) > 0 || len(c.SecretFiles) > 0 {
		// never in argv: the exec request's URL reaches the API server's
		// and the kubelet's logs, and a command line is anyone's to read
		argv = append(envArgs(c.Env), "sh", "-c", secretsPrelude+scriptWrapper, "sluice", c.Script)
		stdin = strings.NewReader(exports(c.Secrets, c.SecretFiles))
	}
	start := time.Now()
	code, err := x.Exec.Exec(runCtx, x.ns(), h.Pod, argv, stdin, w, w)
	res := executor.Result{ExitCode: code, Duration: time.Since(start)}
	if runCtx.Err() != nil {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.grace()+30*time.Second)
		defer cancel()
		if kerr := x.kill(kctx, h.Pod, int(x.grace()/(100*time.Millisecond))); kerr != nil {
			return res, fmt.Errorf("kill the command in pod %s: %w", h.Pod, kerr)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.TimedOut, res.ExitCode = true, -1
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("exec in pod %s: %w", h.Pod, err)
	}
	return res, nil
}

// kill ends the pod's recorded command group, giving it ticks×100ms after
// SIGTERM, and returns once nothing of it is left.
func (x *Executor) kill(ctx context.Context, pod string, ticks int) error {
	_, err := x.Exec.output(ctx, x.ns(), pod, "sh", "-c", killGroup, "sluice", strconv.Itoa(ticks))
	return err
}

// keepLease renews the claim every third of its TTL until stopped.
func (x *Executor) keepLease(ctx context.Context, h executor.Handle) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Duration(x.Pool.Spec.LeaseTTL) / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = x.Pool.Renew(ctx, h.Pod, h.Claim)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// ReadFile reads a workspace file from the pod, at most limit bytes.
func (x *Executor) ReadFile(ctx context.Context, h executor.Handle, rel string, limit int64) ([]byte, error) {
	if !x.mine(h) {
		return nil, fmt.Errorf("workspace %s is not a pod of pool %q", h, x.Pool.Spec.Name)
	}
	if !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("%q is not a path inside the workspace", rel)
	}
	var buf limitedBuffer
	buf.limit = limit
	var errOut strings.Builder
	code, err := x.Exec.Exec(ctx, x.ns(), h.Pod, []string{"sh", "-c", `cd ` + Workdir + ` && head -c "$2" -- "$1"`, "sluice", rel, strconv.FormatInt(limit+1, 10)}, nil, &buf, &errOut)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("read %s in pod %s: %s", rel, h.Pod, strings.TrimSpace(errOut.String()))
	}
	if int64(len(buf.b)) > limit {
		return nil, fmt.Errorf("%w: %s is over %d bytes", executor.ErrTooLarge, rel, limit)
	}
	return buf.b, nil
}

// archiveScript tars the paths given that exist, relative to the
// workspace, to stdout; none there writes nothing.
const archiveScript = `cd ` + Workdir + ` || exit 1
for p do shift; if [ -e "$p" ]; then set -- "$@" "./$p"; fi; done
[ $# -eq 0 ] && exit 0
exec tar -c -f - "$@"`

// Archive packs paths of the pod's workspace with the pod's own tar.
func (x *Executor) Archive(ctx context.Context, h executor.Handle, paths []string, limit int64) ([]byte, error) {
	if !x.mine(h) {
		return nil, fmt.Errorf("workspace %s is not a pod of pool %q", h, x.Pool.Spec.Name)
	}
	for _, p := range paths {
		if !filepath.IsLocal(p) {
			return nil, fmt.Errorf("%q is not a path inside the workspace", p)
		}
	}
	buf := limitedBuffer{limit: limit}
	var errOut strings.Builder
	code, err := x.Exec.Exec(ctx, x.ns(), h.Pod, append([]string{"sh", "-c", archiveScript, "sluice"}, paths...), nil, &buf, &errOut)
	if err != nil {
		return nil, err
	}
	if int64(len(buf.b)) > limit {
		return nil, fmt.Errorf("%w: the archive of %v is over %d bytes", executor.ErrTooLarge, paths, limit)
	}
	if code != 0 {
		return nil, fmt.Errorf("archive %v in pod %s: %s", paths, h.Pod, strings.TrimSpace(errOut.String()))
	}
	return buf.b, nil
}

// Extract unpacks an archive into the pod's workspace with the pod's tar:
// whatever it holds stays in the pod, the job's own sandbox.
func (x *Executor) Extract(ctx context.Context, h executor.Handle, data []byte) error {
	if !x.mine(h) {
		return fmt.Errorf("workspace %s is not a pod of pool %q", h, x.Pool.Spec.Name)
	}
	var errOut strings.Builder
	code, err := x.Exec.Exec(ctx, x.ns(), h.Pod, []string{"tar", "-x", "-f", "-", "-C", Workdir}, bytes.NewReader(data), io.Discard, &errOut)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("extract in pod %s: %s", h.Pod, strings.TrimSpace(errOut.String()))
	}
	return nil
}

// Release deletes the pod.
func (x *Executor) Release(ctx context.Context, h executor.Handle) error {
	if !x.mine(h) {
		return nil
	}
	return x.Pool.Release(ctx, h.Pod)
}

// syncWriter serialises stdout and stderr, which arrive on two goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// limitedBuffer keeps at most limit+1 bytes.
type limitedBuffer struct {
	b     []byte
	limit int64
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.limit + 1 - int64(len(l.b)); room > 0 {
		l.b = append(l.b, p[:min(int64(len(p)), room)]...)
	}
	return len(p), nil
}
