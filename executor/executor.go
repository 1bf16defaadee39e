// Package executor runs a phase's commands somewhere: in a local workspace
// directory today, in a claimed warm build pod later. The Steps activity
// depends only on the Executor interface.
package executor

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// Handle is an executor's handle on a workspace: plain data that a later
// phase, possibly on another worker, passes back.
type Handle = contract.Workspace

// Checkout says what to check out for a run.
type Checkout struct {
	// Key is unique per run and safe as a path element.
	Key      string
	CloneURL string
	Commit   string
	// Merge, when set, is merged into Commit (a merge request's target).
	Merge string
	// Project and Share: a pool executor gives the project at most Share
	// of its pods at once (0: no share); Waiting, when set, is told why a
	// workspace waits for one.
	Project string
	Share   int
	Waiting func(why string)
}

// Command is one shell command of a phase.
type Command struct {
	Script string
	Env    map[string]string
	// Secrets are environment variables whose values are secret: an
	// executor hands them over where no one else reads them (a process's
	// environment, an exec's stdin), never in a command line.
	Secrets map[string]string
	// SecretFiles are secrets handed over as files: the command's
	// environment variable (the key) holds the path of a file, readable by
	// the command's user alone (0400) and kept in memory (tmpfs) where the
	// machine has one, that holds the value; the file is gone when the
	// command ends.
	SecretFiles map[string]string
	// Timeout bounds the command; zero means no bound beyond the context.
	Timeout time.Duration
}

// Result is how a command ended.
type Result struct {
	ExitCode int
	Duration time.Duration
	TimedOut bool
}

// ErrWorkspaceGone is returned by Run when the handle no longer names a
// workspace (recycled pod, swept directory); prepare a new one.
var ErrWorkspaceGone = errors.New("workspace gone")

// Executor prepares workspaces and runs commands in them.
//
// Lifecycle: Prepare returns a handle; Run and ReadFile may be called any
// number of times with it, from any goroutine; Release frees it. A handle
// outlives the process that created it (the Steps activity of a later phase,
// possibly on another worker, passes it back), so Prepare with an existing
// handle must reuse it when it still holds the same commit.
type Executor interface {
	// Kind is the Handle.Kind this executor makes and accepts.
	Kind() string
	// Prepare returns a workspace with the commit checked out, reusing
	// existing when that still names one for the same commit.
	Prepare(ctx context.Context, co Checkout, existing Handle) (Handle, error)
	// Run runs the command in the workspace, writing stdout and stderr to
	// out as they come. A non-zero exit is a Result, not an error; errors
	// mean the command could not be run. Cancelling ctx kills the command
	// and everything it started before Run returns. Run never overlaps a
	// command an earlier, lost attempt started in the same workspace: it
	// ends that one first.
	Run(ctx context.Context, h Handle, cmd Command, out io.Writer) (Result, error)
	// ReadFile returns a file of the workspace (rel is relative to its root
	// and may not leave it), at most limit bytes.
	ReadFile(ctx context.Context, h Handle, rel string, limit int64) ([]byte, error)
	// Archive packs paths of the workspace (files, or directories with
	// their files; relative, inside it) into a tar of at most limit bytes:
	// regular files and directories only, a path that is not there left
	// out. Nothing there at all is an empty result.
	Archive(ctx context.Context, h Handle, paths []string, limit int64) ([]byte, error)
	// Extract unpacks a tar Archive made into the workspace, at the same
	// paths, for the step user; an entry that would leave it is refused.
	Extract(ctx context.Context, h Handle, tar []byte) error
	// Release deletes the workspace. Releasing an unknown handle is fine.
	Release(ctx context.Context, h Handle) error
}

// ServiceStarter is an executor that starts a job's services beside its
// workspace, gone with it; the environment tells the commands where each
// is (<NAME>_HOST, <NAME>_PORT).
type ServiceStarter interface {
	StartServices(ctx context.Context, h Handle, services []contract.StepsService, log io.Writer) (map[string]string, error)
}

// ServiceEnv is the environment variable prefix of a service: its name
// upper-cased, - as _ ("job-db" is JOB_DB_HOST, JOB_DB_PORT).
func ServiceEnv(name string) string { return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) }

// ErrTooLarge is returned by ReadFile for a file over the limit.
var ErrTooLarge = errors.New("file too large")
