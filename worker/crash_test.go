package worker

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/devserver/devservertest"
)

func TestCrashPointsNeedTheirDirectory(t *testing.T) {
	t.Setenv(EnvCrashAfter, "")
	if c, err := crashAfterFromEnv(); c != nil || err != nil {
		t.Fatalf("unset: %v %v, want off", c, err)
	}
	t.Setenv(EnvCrashAfter, "Bake, Deploy")
	t.Setenv(EnvCrashDir, "")
	if _, err := crashAfterFromEnv(); err == nil || !strings.Contains(err.Error(), EnvCrashDir) {
		t.Fatalf("without a directory: %v, want an error naming %s", err, EnvCrashDir)
	}
	t.Setenv(EnvCrashDir, t.TempDir())
	c, err := crashAfterFromEnv()
	if err != nil || !c.activities["Bake"] || !c.activities["Deploy"] || len(c.activities) != 2 {
		t.Fatalf("%+v %v", c, err)
	}
}

// crashChildEnv makes TestCrashPointWorker a worker against this address.
const crashChildEnv = "SLUICE_CRASH_TEST_TEMPORAL"

// TestCrashPointWorker is the worker of TestCrashPointKillsItsWorkerOnce,
// run in a child process; on its own it does nothing.
func TestCrashPointWorker(t *testing.T) {
	addr := os.Getenv(crashChildEnv)
	if addr == "" {
		t.Skip("the child of TestCrashPointKillsItsWorkerOnce")
	}
	c, err := client.Dial(client.Options{HostPort: addr})
	if err != nil {
		t.Fatal(err)
	}
	crash, err := crashAfterFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	w := sdkworker.New(c, "crash-test", sdkworker.Options{Interceptors: []interceptor.WorkerInterceptor{crash}})
	w.RegisterActivityWithOptions(func(ctx context.Context, file string) error {
		f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString("done\n")
		return err
	}, activity.RegisterOptions{Name: "Touch"})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, file string) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 2 * time.Second})
		return workflow.ExecuteActivity(ctx, "Touch", file).Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "TouchOnce"})
	if err := w.Run(sdkworker.InterruptCh()); err != nil {
		t.Fatal(err)
	}
}

// TestCrashPointKillsItsWorkerOnce: a worker with a crash point after an
// activity dies by SIGKILL once the activity did its work (the work is
// there, Temporal never heard of it); the attempt that follows, on
// another worker sharing the marker directory, does the work again and
// reports it, and that worker lives.
func TestCrashPointKillsItsWorkerOnce(t *testing.T) {
	srv := devservertest.Server(t)
	c, err := client.Dial(client.Options{HostPort: srv.Address})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	markers, work := t.TempDir(), filepath.Join(t.TempDir(), "work")
	startWorker := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashPointWorker$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+srv.Address, EnvCrashAfter+"=Touch", EnvCrashDir+"="+markers)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := startWorker()
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: "crash-test"}, "TouchOnce", work)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("the first worker ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(time.Minute):
		_ = first.Process.Kill()
		t.Fatal("the worker with a crash point after Touch is still alive a minute after the run started")
	}
	if b, _ := os.ReadFile(work); string(b) != "done\n" {
		t.Fatalf("work before the crash: %q, want done once", b)
	}
	second := startWorker()
	t.Cleanup(func() { _ = second.Process.Kill(); _ = second.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("the run after the crash: %v", err)
	}
	if b, _ := os.ReadFile(work); string(b) != "done\ndone\n" {
		t.Fatalf("work: %q, want done twice (once before the crash, once reported)", b)
	}
	if err := second.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the second worker died too: %v", err)
	}
}
