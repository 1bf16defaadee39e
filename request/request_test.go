package request

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// TestPoolsCheckedOnlyWithTheServersConfiguration: a spec naming a pool
// the server does not have is refused where the server's configuration is
// known (the webhook), and left to the worker where it is not (`sluice
// run` against a remote server); a manual run ignores on.branches.
func TestPoolsCheckedOnlyWithTheServersConfiguration(t *testing.T) {
	dir, commit := gitsrctest.Repo(t, "../examples/hello", "version: 1\non: {branches: [main]}\nbuild: {pool: go, commands: [make]}\n")
	src := Source{CloneURL: dir, Branch: "main", Commit: commit}
	var invalid *Invalid
	if _, err := (&Builder{Config: &config.Config{}}).Build(context.Background(), src); !errors.As(err, &invalid) {
		t.Fatalf("with the server's configuration: %v", err)
	}
	req, err := (&Builder{}).Build(context.Background(), src)
	if err != nil || req.Spec.Pool() != "go" || req.Push.Commit != commit {
		t.Fatalf("without it: %+v, %v", req.Push, err)
	}
	src.Branch = "feature"
	var ignored Ignored
	if _, err := (&Builder{}).Build(context.Background(), src); !errors.As(err, &ignored) {
		t.Fatalf("a push of another branch: %v", err)
	}
	src.Manual = true
	if _, err := (&Builder{}).Build(context.Background(), src); err != nil {
		t.Fatalf("a manual run of another branch: %v", err)
	}
}
