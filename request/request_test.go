package request

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/policy"
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

// TestSharedNamespacesRefused: on a server without projects a spec that
// names default or a cluster namespace for staging or production is
// refused before anything starts, at the spec's line; its own namespace
// passes.
func TestSharedNamespacesRefused(t *testing.T) {
	for ns, refused := range map[string]bool{"default": true, "kube-public": true, "shop-prod": false} {
		data := []byte("version: 1\nname: shop\nenvironments:\n  staging: {namespace: shop-staging}\n  production: {namespace: " + ns + "}\nbuild: {commands: [\"true\"]}\n")
		spec, err := pipelines.Parse(pipelines.FileName, data, "shop")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Govern(&config.Config{}, "acme/shop", "main", *spec, data)
		if refused && (err == nil || !strings.Contains(err.Error(), ".sluice.yml:5") || !strings.Contains(err.Error(), "namespace "+ns)) {
			t.Errorf("production in %s: %v, want refused at line 5", ns, err)
		}
		if !refused && err != nil {
			t.Errorf("production in %s: %v", ns, err)
		}
	}
}

// TestQuotasTravelInTheGovernance: a run's request carries its project's
// limit and the installation's cap, as the server's configuration has them
// when the push comes.
func TestQuotasTravelInTheGovernance(t *testing.T) {
	data := []byte("version: 1\nname: shop\nbuild: {commands: [\"true\"]}\n")
	spec, err := pipelines.Parse(pipelines.FileName, data, "shop")
	if err != nil {
		t.Fatal(err)
	}
	two, twenty := 2, 20
	cfg := &config.Config{Projects: []policy.Project{{Name: "shop", Repositories: []string{"acme/shop"}, Quota: &policy.Quota{Runs: &two}}},
		Quota: &policy.Quota{Runs: &twenty}}
	g, err := Govern(cfg, "acme/shop", "main", *spec, data)
	if err != nil || g.Governance == nil || !reflect.DeepEqual(g.Governance.Quota, &contract.Quota{Runs: 2, All: 20}) {
		t.Fatalf("governance %+v %v", g.Governance, err)
	}
	cfg.Projects[0].Quota = nil
	if g, err := Govern(cfg, "acme/shop", "main", *spec, data); err != nil || !reflect.DeepEqual(g.Governance.Quota, &contract.Quota{All: 20}) {
		t.Fatalf("the cap alone: %+v %v", g.Governance, err)
	}
}
