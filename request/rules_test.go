package request

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/pipelines"
)

// monorepoSpec is the api service's pipeline: it starts only for changes
// under services/api or lib, and releases only from v* tags.
const monorepoSpec = `version: 1
on: {branches: [main], tags: ["v*"], paths: ["services/api/**", "lib/**"]}
build: {commands: ["true"]}
test: {commands: ["true"], when: {events: [push, manual]}}
`

// TestRulesDecideFromThePush: the request builder reads what the push
// changed from the repository, lets `on` ignore a push elsewhere, skips
// the phases whose rule does not hold, and runs a tag only at the commit
// the tag names.
func TestRulesDecideFromThePush(t *testing.T) {
	dir, first := gitsrctest.Repo(t, "../examples/hello", monorepoSpec)
	write := func(name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		return gitsrctest.Commit(t, dir, name)
	}
	web := write("services/web/index.html")
	api := write("services/api/main.go")
	gitsrctest.Git(t, dir, "tag", "v1", api)
	ctx := context.Background()
	b := &Builder{}

	var ignored Ignored
	_, err := b.Build(ctx, Source{CloneURL: dir, Branch: "main", Commit: web, Base: first})
	if !errors.As(err, &ignored) || !strings.Contains(err.Error(), "on.paths") {
		t.Fatalf("a push under services/web: %v, want ignored by on.paths", err)
	}
	req, err := b.Build(ctx, Source{CloneURL: dir, Branch: "main", Commit: api, Base: web})
	if err != nil || req.Push.Event != pipelines.EventPush || req.Spec.Test == nil {
		t.Fatalf("a push under services/api: %+v %v", req.Push, err)
	}
	if _, err := b.Build(ctx, Source{CloneURL: dir, Branch: "main", Commit: web, Manual: true}); err != nil {
		t.Fatalf("a manual run is a person's request, on.paths aside: %v", err)
	}

	req, err = b.Build(ctx, Source{CloneURL: dir, Branch: pipelines.TagRef("v1"), Commit: api})
	if err != nil || req.Push.Tag != "v1" || req.Push.Event != pipelines.EventTag || req.Spec.Test != nil ||
		len(req.Skipped) != 1 || req.Skipped[0].Rule != "test.when: event tag not in events [push manual]" {
		t.Fatalf("the tag's run: %+v skipped %v %v", req.Push, req.Skipped, err)
	}
	var invalid *Invalid
	if _, err := b.Build(ctx, Source{CloneURL: dir, Branch: pipelines.TagRef("v1"), Commit: web}); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "tag v1 names commit") {
		t.Fatalf("tag v1 at a commit it does not name: %v", err)
	}
	if _, err := b.Build(ctx, Source{CloneURL: dir, Branch: "refs/heads/main", Manual: true}); err == nil || !strings.Contains(err.Error(), "starts with refs/") {
		t.Fatalf("a branch named refs/heads/main: %v", err)
	}
}
