package worker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// Crash points are for fault testing: with SLUICE_CRASH_AFTER naming
// activity types (comma-separated) and SLUICE_CRASH_DIR a directory, the
// worker kills itself with SIGKILL right after such an activity finished
// its work and before it reports the result to Temporal — the moment at
// which a crash leaves the world changed and Temporal unaware. Each
// activity of each run crashes a worker once: the first worker to get there
// creates a marker file in the directory (exclusively, so workers sharing
// the directory agree), every later attempt passes. Unset, nothing happens.
const (
	EnvCrashAfter = "SLUICE_CRASH_AFTER"
	EnvCrashDir   = "SLUICE_CRASH_DIR"
)

// crashAfter is the interceptor that crashes; nil when not configured.
type crashAfter struct {
	interceptor.WorkerInterceptorBase
	dir        string
	activities map[string]bool
}

// crashAfterFromEnv reads the crash points; a list without a usable
// directory is an error, never silently off.
func crashAfterFromEnv() (*crashAfter, error) {
	list := os.Getenv(EnvCrashAfter)
	if list == "" {
		return nil, nil
	}
	c := &crashAfter{dir: os.Getenv(EnvCrashDir), activities: map[string]bool{}}
	if st, err := os.Stat(c.dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s is set, so %s must name an existing directory for its markers (got %q)", EnvCrashAfter, EnvCrashDir, c.dir)
	}
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name != "" {
			c.activities[name] = true
		}
	}
	return c, nil
}

func (c *crashAfter) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &crashActivity{c: c}
	i.Next = next
	return i
}

type crashActivity struct {
	interceptor.ActivityInboundInterceptorBase
	c *crashAfter
}

func (a *crashActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	out, err := a.Next.ExecuteActivity(ctx, in)
	info := activity.GetInfo(ctx)
	if err != nil || !a.c.activities[info.ActivityType.Name] {
		return out, err
	}
	// one marker per activity of a run: workflow, run and activity ids
	key := strings.NewReplacer("/", "_", "@", "_", ":", "_").Replace(
		info.WorkflowExecution.ID + "." + info.WorkflowExecution.RunID + "." + info.ActivityID + "." + info.ActivityType.Name)
	f, ferr := os.OpenFile(filepath.Join(a.c.dir, key), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(ferr, fs.ErrExist) {
		return out, err // crashed here once already
	}
	if ferr == nil {
		f.Close()
		activity.GetLogger(ctx).Warn("crash point: killing this worker after the activity's work", "activity", info.ActivityType.Name)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	return out, err
}
