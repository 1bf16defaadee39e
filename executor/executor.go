// Package executor runs a phase's commands somewhere: in a local workspace
// directory today, in a claimed warm build pod later. The Steps activity
// depends only on the Executor interface.
package executor

import (
	"context"
	"errors"
	"io"
	"time"
)

// Workspace says what to check out for a run.
type Workspace struct {
	// Key is unique per run and safe as a path element.
	Key      string
	CloneURL string
	Commit   string
}

// Command is one shell command of a phase.
type Command struct {
	Script string
	Env    map[string]string
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
// Lifecycle: Prepare returns a handle; Run may be called any number of times
// with it, from any goroutine; Release frees it. A handle outlives the
// process that created it (the Steps activity of a later phase, possibly on
// another worker, passes it back), so Prepare with an existing handle must
// reuse it when it still holds the same commit.
type Executor interface {
	// Prepare returns a workspace with the commit checked out, reusing
	// existing when that still names one for the same commit.
	Prepare(ctx context.Context, ws Workspace, existing string) (handle string, err error)
	// Run runs the command in the workspace, writing stdout and stderr to
	// out as they come. A non-zero exit is a Result, not an error; errors
	// mean the command could not be run. Cancelling ctx kills the command
	// and everything it started.
	Run(ctx context.Context, handle string, cmd Command, out io.Writer) (Result, error)
	// Release deletes the workspace. Releasing an unknown handle is fine.
	Release(ctx context.Context, handle string) error
}
