package request

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/policy"
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

// TestMonorepoPipelines: every pipeline of examples/monorepo's .sluice/ is
// decided on its own from one read of the commit: a change to one
// service builds its pipeline only, a change to the shared library both,
// a change to the docs none; a badly named file refuses that pipeline
// alone.
func TestMonorepoPipelines(t *testing.T) {
	dir, first := gitsrctest.Repo(t, "../examples/monorepo", "")
	change := func(name string) string {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("\n// changed\n")
		f.Close()
		return gitsrctest.Commit(t, dir, name)
	}
	ctx := context.Background()
	b := &Builder{}
	started := func(base, commit string) (names []string, ignored int) {
		t.Helper()
		built, err := b.BuildAll(ctx, Source{Repo: "acme/mono", CloneURL: dir, Branch: "main", Commit: commit, Base: base})
		if err != nil {
			t.Fatal(err)
		}
		for _, one := range built {
			var ig Ignored
			switch {
			case one.Err == nil:
				if one.Request.Push.Pipeline != one.Pipeline || one.Request.Spec.Name != "mono-"+one.Pipeline || one.Request.Push.Key() != "acme/mono#"+one.Pipeline {
					t.Errorf("pipeline %s: %+v, spec %q", one.Pipeline, one.Request.Push, one.Request.Spec.Name)
				}
				names = append(names, one.Pipeline)
			case errors.As(one.Err, &ig):
				ignored++
			default:
				t.Errorf("pipeline %s: %v", one.Pipeline, one.Err)
			}
		}
		return names, ignored
	}
	api := change("services/api/main.go")
	if names, ignored := started(first, api); !slices.Equal(names, []string{"api"}) || ignored != 1 {
		t.Errorf("a change to services/api started %v (%d ignored), want api", names, ignored)
	}
	lib := change("lib/greet/greet.go")
	if names, _ := started(api, lib); !slices.Equal(names, []string{"api", "web"}) {
		t.Errorf("a change to lib started %v, want both", names)
	}
	docs := change("docs/README.md")
	if names, ignored := started(lib, docs); len(names) != 0 || ignored != 2 {
		t.Errorf("a change to docs started %v (%d ignored), want none", names, ignored)
	}

	var invalid *Invalid
	if _, err := b.Build(ctx, Source{CloneURL: dir, Branch: "main", Manual: true}); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "pipelines are api, web") {
		t.Errorf("a manual run naming no pipeline of a repository without .sluice.yml: %v", err)
	}
	if req, err := b.Build(ctx, Source{CloneURL: dir, Branch: "main", Manual: true, Pipeline: "web"}); err != nil || req.Push.Pipeline != "web" {
		t.Errorf("a manual run of web: %+v %v", req.Push, err)
	}

	if err := os.WriteFile(filepath.Join(dir, ".sluice", "Bad_Name.yml"), []byte("version: 1\nbuild: {commands: [\"true\"]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := change("services/web/main.go")
	built, err := b.BuildAll(ctx, Source{CloneURL: dir, Branch: "main", Commit: bad, Base: docs})
	if err != nil {
		t.Fatal(err)
	}
	var ok []string
	for _, one := range built {
		if one.Err == nil {
			ok = append(ok, one.Pipeline)
		} else if errors.As(one.Err, &invalid) && !strings.Contains(one.Err.Error(), "Bad_Name.yml") {
			t.Errorf("the bad file's refusal does not name it: %v", one.Err)
		}
	}
	if !slices.Equal(ok, []string{"web"}) || len(built) != 3 {
		t.Errorf("with a badly named pipeline: %v of %d", ok, len(built))
	}
}

// TestReleaseTagNamesTheImage: promote.tag "${SLUICE_TAG}" becomes the
// pushed tag in a tag's run; in a branch's run it is refused before
// anything starts, saying how to promote only tags.
func TestReleaseTagNamesTheImage(t *testing.T) {
	spec := "version: 1\non: {tags: [\"v*\"]}\nbake: {image: 127.0.0.1:5000/acme/hello}\npromote: {tag: \"${SLUICE_TAG}\"}\n"
	dir, commit := gitsrctest.Repo(t, "../examples/hello", spec)
	gitsrctest.Git(t, dir, "tag", "v1.2.0", commit)
	gitsrctest.Git(t, dir, "tag", "release/2", commit)
	ctx := context.Background()
	req, err := (&Builder{}).Build(ctx, Source{CloneURL: dir, Branch: pipelines.TagRef("v1.2.0"), Commit: commit})
	if err != nil || req.Spec.Promote.Tag != "v1.2.0" {
		t.Fatalf("the tag's run: promote %+v %v", req.Spec.Promote, err)
	}
	var invalid *Invalid
	if _, err := (&Builder{}).Build(ctx, Source{CloneURL: dir, Branch: "main", Manual: true}); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "this run is of a branch") {
		t.Fatalf("a branch's run: %v", err)
	}
	if _, err := (&Builder{}).Build(ctx, Source{CloneURL: dir, Branch: pipelines.TagRef("release/2"), Commit: commit, Manual: true}); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "not an image tag") {
		t.Fatalf("a tag that is no image tag: %v", err)
	}
}

// TestTooManyPipelines: a commit with more pipelines in .sluice/ than are
// read is refused (422), never retried.
func TestTooManyPipelines(t *testing.T) {
	dir, _ := gitsrctest.Repo(t, "../examples/monorepo", "")
	for i := range gitsrc.MaxSpecFiles + 1 {
		if err := os.WriteFile(filepath.Join(dir, ".sluice", fmt.Sprintf("p%d.yml", i)), []byte("version: 1\nbuild: {commands: [\"true\"]}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commit := gitsrctest.Commit(t, dir, "many")
	var invalid *Invalid
	_, err := (&Builder{}).BuildAll(context.Background(), Source{CloneURL: dir, Branch: "main", Commit: commit})
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "at most 32 are read") {
		t.Fatalf("%d pipelines: %v", gitsrc.MaxSpecFiles+3, err)
	}
}

// TestRulesCannotSkipWhatThePolicyRequires: a spec whose rule skips its
// approval on main still waits for the approval its project requires
// there — the policy decides after the rules — and the run does not
// claim the phase was skipped.
func TestRulesCannotSkipWhatThePolicyRequires(t *testing.T) {
	spec := "version: 1\nbuild: {commands: [\"true\"]}\nbake: {image: 127.0.0.1:5000/acme/hello}\n" +
		"approval: {approvers: {users: [alice]}, when: {branches: [nowhere]}}\n" +
		"environments: {production: {namespace: pay-prod}}\nproduction: {manifests: deploy/k8s}\n"
	dir, _ := gitsrctest.Repo(t, "../examples/hello", spec)
	cfg := &config.Config{Projects: []policy.Project{{Name: "payments", Repositories: []string{"acme/hello"},
		Environments: policy.Environments{Production: &policy.Environment{Branches: []string{"main"}, Namespaces: []string{"pay-prod"},
			Approval: &policy.Approval{Required: 1, Users: []string{"alice"}}}}}}}
	req, err := (&Builder{Config: cfg}).Build(context.Background(), Source{Repo: "acme/hello", CloneURL: dir, Branch: "main", Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	if req.Spec.Approval == nil || req.Spec.Production == nil {
		t.Fatalf("main's run: approval %+v, production %+v", req.Spec.Approval, req.Spec.Production)
	}
	if len(req.Skipped) != 0 {
		t.Errorf("the run says it skipped %v, which the policy kept", req.Skipped)
	}
}

// TestJobRulesReachTheRequest: a job its rule skips is gone from the
// request's spec and said in Skipped, while its phase runs the others.
func TestJobRulesReachTheRequest(t *testing.T) {
	spec := "version: 1\ntest:\n  jobs:\n    unit: {commands: [\"true\"]}\n    race: {commands: [\"true\"], when: {branches: [main]}}\n"
	dir, commit := gitsrctest.Repo(t, "../examples/hello", spec)
	req, err := (&Builder{}).Build(context.Background(), Source{CloneURL: dir, Branch: "feature/x", Commit: commit})
	if err != nil {
		t.Fatal(err)
	}
	if req.Spec.Test == nil || !slices.Equal(req.Spec.Test.Jobs.Names(), []string{"unit"}) {
		t.Fatalf("test %+v", req.Spec.Test)
	}
	if len(req.Skipped) != 1 || req.Skipped[0].What() != "test job race" {
		t.Fatalf("skipped %v", req.Skipped)
	}
}

// TestMergeRequestTargetIsPinned: a merge request's target, named by its
// branch (GitLab) or commit (GitHub), is recorded as the commit the run
// merges; a retry's source keeps it, whatever the branch did since.
func TestMergeRequestTargetIsPinned(t *testing.T) {
	dir, first := gitsrctest.Repo(t, "../examples/hello", "version: 1\nbuild: {commands: [\"true\"]}\n")
	ctx := context.Background()
	b := &Builder{}
	req, err := b.Build(ctx, Source{CloneURL: dir, Branch: "feature/x", Commit: first, Event: pipelines.EventMergeRequest, Base: "main"})
	if err != nil || req.Push.Merge != first {
		t.Fatalf("a target by branch: merge %q %v, want %s", req.Push.Merge, err, first)
	}
	if err := os.WriteFile(filepath.Join(dir, "later.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := gitsrctest.Commit(t, dir, "main moves on")
	req, err = b.Build(ctx, Source{CloneURL: dir, Branch: "feature/x", Commit: first, Event: pipelines.EventMergeRequest, Base: "main", Merge: first})
	if err != nil || req.Push.Merge != first {
		t.Fatalf("a retry: merge %q %v, want %s, not %s", req.Push.Merge, err, first, later)
	}
	if req, err := b.Build(ctx, Source{CloneURL: dir, Branch: "main", Commit: later, Base: first}); err != nil || req.Push.Merge != "" {
		t.Fatalf("a push merges nothing: %q %v", req.Push.Merge, err)
	}
}
