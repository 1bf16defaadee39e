package request

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/pool/poolspec"
)

// TestPoolsCheckedOnlyWithTheServersConfiguration: a spec naming a pool
// the server does not have is refused by a server that declares pools, and
// left to the worker by one that declares none (its workers have them) or
// without a configuration; a manual run ignores on.branches.
func TestPoolsCheckedOnlyWithTheServersConfiguration(t *testing.T) {
	dir, commit := gitsrctest.Repo(t, "../examples/hello", "version: 1\non: {branches: [main]}\nbuild: {pool: go, commands: [make]}\n")
	src := Source{CloneURL: dir, Branch: "main", Commit: commit}
	var invalid *Invalid
	withPools := &config.Config{Pools: []poolspec.Spec{{Name: "default"}}}
	if _, err := (&Builder{Config: withPools}).Build(context.Background(), src); !errors.As(err, &invalid) {
		t.Fatalf("with the server's pools: %v", err)
	}
	if _, err := (&Builder{Config: &config.Config{}}).Build(context.Background(), src); err != nil {
		t.Fatalf("a server without pools: %v", err)
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
