// Package stepguard is the process that leads a local build step's
// process group. It imports only the standard library, so that the
// worker's binary, executed again as a guard, reaches it before the
// initialisation of most of its packages.
package stepguard

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// A step's process group outlives a worker killed with SIGKILL: the
// kernel tells no one but the direct child (PR_SET_PDEATHSIG), and the
// step's own processes are that child's children. So the worker does not
// start the step's shell itself but a guard: this same binary, executed
// again under guardName, as the group's leader. The guard gets SIGTERM
// when the worker dies (Pdeathsig), sees its parent gone, and ends the
// whole group. Otherwise it runs `sh -c SCRIPT` in its own group and
// exits as the shell did.

// Name is argv[0] of a step guard.
const Name = "sluice-step-guard"

// ParentEnv passes the worker's pid to the guard, which compares its
// parent with it: a worker that died before the guard armed its death
// signal is seen too.
const ParentEnv = "SLUICE_STEP_GUARD_PARENT"

func init() {
	if len(os.Args) > 1 && os.Args[0] == Name {
		os.Exit(guard(os.Args[1]))
	}
}

// Command is the command that runs script under a guard: this binary,
// executed again.
func Command(script string) *exec.Cmd {
	return &exec.Cmd{Path: "/proc/self/exe", Args: []string{Name, script}}
}

// guard runs script and returns its exit status; it ends its process
// group, itself included, when its parent is gone.
func guard(script string) int {
	parent, _ := strconv.Atoi(os.Getenv(ParentEnv))
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	orphaned := func() bool { return parent == 0 || os.Getppid() != parent }
	if orphaned() {
		_ = syscall.Kill(0, syscall.SIGKILL)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, ParentEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		os.Stderr.WriteString("sluice: start the step's shell: " + err.Error() + "\n")
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case <-terms:
			// the worker's own SIGTERM to the group (a cancel) reaches the
			// shell too, which ends; a dead worker's ends everything
			if orphaned() {
				_ = syscall.Kill(0, syscall.SIGKILL)
			}
		case err := <-done:
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				if err != nil {
					return 127
				}
				return 0
			}
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				// die of the same signal, as the shell did
				signal.Reset(ws.Signal())
				_ = syscall.Kill(os.Getpid(), ws.Signal())
			}
			return exit.ExitCode()
		}
	}
}
