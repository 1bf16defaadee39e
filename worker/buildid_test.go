package worker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/devserver/devservertest"
)

// TestGoBuildID: the build ID read from this test binary is the one `go
// tool buildid` prints; a file that is not an executable has none.
func TestGoBuildID(t *testing.T) {
	exe, got := ownBuildID(t)
	out, err := exec.Command("go", "tool", "buildid", exe).Output()
	if err != nil {
		t.Fatalf("go tool buildid: %v", err)
	}
	if want := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("build ID %q, go tool buildid says %q", got, want)
	}
	notExe := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if id, err := goBuildID(notExe); err == nil {
		t.Fatalf("a shell script's build ID %q, want an error", id)
	}
}

// TestWorkerNamesItsBinary: a worker made by New completes workflow tasks
// under the executable's Go build ID (the SDK does not checksum the
// executable).
func TestWorkerNamesItsBinary(t *testing.T) {
	_, id := ownBuildID(t)
	c := devservertest.Start(t)
	w, err := New(c, Config{DataDir: t.TempDir(), TaskQueue: "binary-name"})
	if err != nil {
		t.Fatal(err)
	}
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) (string, error) {
		return workflow.GetInfo(ctx).BinaryChecksum, nil
	}, workflow.RegisterOptions{Name: "BinaryName"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "binary-name"}, "BinaryName")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "go:"+id {
		t.Fatalf("workflow tasks completed by binary %q, want %q", got, "go:"+id)
	}
}

// ownBuildID is this test binary's path and Go build ID.
func ownBuildID(t *testing.T) (string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	id, err := goBuildID(exe)
	if err != nil {
		t.Fatal(err)
	}
	return exe, id
}
