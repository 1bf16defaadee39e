package webhooks_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/webhooks"
	"github.com/sluice-cd/sluice/workflows"
)

// rulesSpec releases from main and from v* tags; a feature branch builds,
// and tests only when it changes src/. Build fails unless Sluice told the
// step what the run is of, and the default of its input.
const rulesSpec = `version: 1
on: {branches: [main, "feature/*"], tags: ["v*"]}
inputs:
  target: {type: choice, options: [staging, production], default: staging}
build:
  commands:
    - test "$SLUICE_INPUT_TARGET" = staging
    - 'case "$SLUICE_EVENT:$SLUICE_BRANCH:$SLUICE_TAG" in push:feature/docs: | tag::v1.0 | push:main:) ;; *) echo "unexpected $SLUICE_EVENT:$SLUICE_BRANCH:$SLUICE_TAG"; exit 1;; esac'
test:
  commands: ["true"]
  when: {paths: ["src/**"]}
approval:
  approvers: {users: [alice]}
  when: {branches: [main], tags: ["v*"]}
`

// githubPush is a GitHub push event of ref from before to after.
func githubPush(ref, before, after string) []byte {
	return fmt.Appendf(nil, `{"ref":%q,"before":%q,"after":%q,"deleted":false,"repository":{"full_name":"acme/gh","default_branch":"main"},"head_commit":{"id":%q,"message":"m","author":{"name":"carol","email":"carol@example.com"}},"pusher":{"name":"carol"},"sender":{"login":"carol"}}`, ref, before, after, after)
}

// TestRulesAndTagsThroughTheServer: signed pushes to the real server.
// A new feature branch changing only docs runs build alone — test and
// approval skipped, each with its rule; a release tag runs as
// refs/tags/v1.0 up to its approval; a branch named like a tag is
// refused.
func TestRulesAndTagsThroughTheServer(t *testing.T) {
	s := newStack(t)
	dir := s.dirs["github"]
	if err := os.WriteFile(filepath.Join(dir, ".sluice.yml"), []byte(rulesSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	release := gitsrctest.Commit(t, dir, "rules")
	gitsrctest.Git(t, dir, "tag", "-a", "v1.0", "-m", "release 1.0")
	tagObject := gitsrctest.Git(t, dir, "rev-parse", "v1.0")
	gitsrctest.Git(t, dir, "checkout", "-q", "-b", "feature/docs")
	if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs", "guide.md"), []byte("# guide\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	docs := gitsrctest.Commit(t, dir, "docs")
	gitsrctest.Git(t, dir, "branch", "refs/tags/v2")
	const zero = "0000000000000000000000000000000000000000"

	post := func(delivery string, body []byte, want int) string {
		t.Helper()
		code, resp := s.post("github", signed("github", s.secrets["github"], delivery, body), body)
		if code != want {
			t.Fatalf("%s: status %d %s, want %d", delivery, code, resp, want)
		}
		return resp
	}
	rc := &runs.Client{Temporal: s.c}
	wait := func(branch, state string) workflows.RunState {
		t.Helper()
		var st workflows.RunState
		poll.Until(t, "the run of "+branch+" "+state, func() bool {
			var err error
			_, st, err = rc.Status(context.Background(), runs.Ref{WorkflowID: workflows.WorkflowID("acme/gh", branch)})
			return err == nil && st.State == state
		})
		return st
	}

	post("feature", githubPush("refs/heads/feature/docs", zero, docs), http.StatusAccepted)
	st := wait("feature/docs", workflows.StateSucceeded)
	want := []pipelines.Skip{
		{Phase: "test", Rule: "test.when: no changed file under paths [src/**]"},
		{Phase: "approval", Rule: "approval.when: branch feature/docs not in branches [main]"},
	}
	if !slices.Equal(st.Request.Skipped, want) || len(st.Phases) != 1 || st.Phases[0].Name != "build" {
		t.Fatalf("feature branch: skipped %v, phases %+v", st.Request.Skipped, st.Phases)
	}

	post("tag", githubPush("refs/tags/v1.0", zero, tagObject), http.StatusAccepted)
	st = wait(pipelines.TagRef("v1.0"), workflows.StateAwaitingApproval)
	if p := st.Request.Push; p.Tag != "v1.0" || p.Event != pipelines.EventTag || p.Commit != release || len(st.Request.Skipped) != 0 {
		t.Fatalf("tag run: %+v, skipped %v", p, st.Request.Skipped)
	}

	resp := post("posing", githubPush("refs/heads/refs/tags/v2", zero, docs), http.StatusOK)
	if !strings.Contains(resp, "starts with refs/") {
		t.Fatalf("a branch posing as a tag: %s", resp)
	}
	if n := s.count(fmt.Sprintf("WorkflowId = '%s'", workflows.WorkflowID("acme/gh", pipelines.TagRef("v2")))); n != 0 {
		t.Fatalf("the branch posing as a tag started %d runs", n)
	}
}

// TestTagPushes: each provider's tag push is read as a run of the tag,
// GitLab's Tag Push Hook by the commit it checks out.
func TestTagPushes(t *testing.T) {
	const commit, object = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	gh, err := webhooks.ParseGitHub("push", githubPush("refs/tags/v1.2.0", "0000000000000000000000000000000000000000", commit))
	if err != nil || gh.Tag != "v1.2.0" || gh.Branch != "refs/tags/v1.2.0" || gh.Event != "tag" || gh.Base != "" {
		t.Errorf("github: %+v %v", gh, err)
	}
	gl, err := webhooks.ParseGitLab("Tag Push Hook", fmt.Appendf(nil, `{"object_kind":"tag_push","event_name":"tag_push","before":"0000000000000000000000000000000000000000","after":%q,"ref":"refs/tags/v1.2.0","checkout_sha":%q,"message":"release","user_id":1,"user_name":"Carol","user_username":"carol","user_email":"carol@example.com","project_id":15,"project":{"id":15,"path_with_namespace":"acme/gl","default_branch":"main"},"commits":[],"total_commits_count":0}`, object, commit))
	if err != nil || gl.Tag != "v1.2.0" || gl.Commit != commit || gl.Branch != "refs/tags/v1.2.0" || gl.Event != "tag" || gl.Pusher != "carol" {
		t.Errorf("gitlab: %+v %v", gl, err)
	}
	gt, err := webhooks.ParseGitea("push", fmt.Appendf(nil, `{"ref":"refs/tags/v1.2.0","before":"0000000000000000000000000000000000000000","after":%q,"commits":[],"repository":{"full_name":"acme/gt","default_branch":"main"},"pusher":{"login":"carol","username":"carol"}}`, commit))
	if err != nil || gt.Tag != "v1.2.0" || gt.Branch != "refs/tags/v1.2.0" || gt.Event != "tag" {
		t.Errorf("gitea: %+v %v", gt, err)
	}
	branch, err := webhooks.ParseGitHub("push", githubPush("refs/heads/main", commit, object))
	if err != nil || branch.Event != "push" || branch.Base != commit || branch.Tag != "" {
		t.Errorf("a branch push: %+v %v", branch, err)
	}
	fresh, err := webhooks.ParseGitea("push", fmt.Appendf(nil, `{"ref":"refs/heads/feature/x","before":"0000000000000000000000000000000000000000","after":%q,"repository":{"full_name":"acme/gt","default_branch":"main"}}`, commit))
	if err != nil || fresh.Base != "main" {
		t.Errorf("a new branch is compared with the default branch: %+v %v", fresh, err)
	}
}

// TestMonorepoThroughTheServer: the repository becomes examples/monorepo
// (two services, a shared library, a pipeline per service in .sluice/);
// a signed push changing the api service starts the api pipeline's run
// alone, which builds and tests the service for real, under its own
// workflow; the web pipeline starts nothing.
func TestMonorepoThroughTheServer(t *testing.T) {
	s := newStack(t)
	dir := s.dirs["github"]
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".git" {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	if err := os.CopyFS(dir, os.DirFS("../examples/monorepo")); err != nil {
		t.Fatal(err)
	}
	before := gitsrctest.Commit(t, dir, "monorepo")
	if err := os.WriteFile(filepath.Join(dir, "services", "api", "version.go"), []byte("package main\n\nconst version = \"2\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	after := gitsrctest.Commit(t, dir, "api 2")
	body := githubPush("refs/heads/main", before, after)
	code, resp := s.post("github", signed("github", s.secrets["github"], "mono-1", body), body)
	if code != http.StatusAccepted || !strings.Contains(resp, "pipeline api: run of main@"+after) || !strings.Contains(resp, "pipeline web: no changed file is under on.paths") {
		t.Fatalf("status %d %s", code, resp)
	}
	rc := &runs.Client{Temporal: s.c}
	api := workflows.WorkflowID("acme/gh#api", "main")
	var st workflows.RunState
	poll.Until(t, "the api pipeline's run", func() bool {
		_, st, err = rc.Status(context.Background(), runs.Ref{WorkflowID: api})
		return err == nil && (st.State == workflows.StateSucceeded || st.State == workflows.StateFailed)
	})
	if st.State != workflows.StateSucceeded || st.Request.Push.Pipeline != "api" || st.Request.Spec.Name != "gh-api" || len(st.Phases) != 2 {
		t.Fatalf("api run: %s %q %+v", st.State, st.Error, st.Phases)
	}
	if n := s.count(fmt.Sprintf("WorkflowId = '%s'", workflows.WorkflowID("acme/gh#web", "main"))); n != 0 {
		t.Fatalf("the web pipeline started %d runs", n)
	}
	if n := s.count(fmt.Sprintf("WorkflowId = '%s'", workflows.WorkflowID("acme/gh", "main"))); n != 0 {
		t.Fatalf("a repository without .sluice.yml started %d runs of it", n)
	}
	code, resp = s.post("github", signed("github", s.secrets["github"], "mono-2", body), body)
	if code != http.StatusOK || !strings.Contains(resp, `"duplicate"`) {
		t.Fatalf("the same push again: %d %s", code, resp)
	}
}

// githubPR is a GitHub pull_request event of head (on branch) into base.
func githubPR(action, branch, head, base string) []byte {
	return fmt.Appendf(nil, `{"action":%q,"number":7,"pull_request":{"title":"t","user":{"login":"carol"},"head":{"ref":%q,"sha":%q,"repo":{"full_name":"acme/gh"}},"base":{"ref":"main","sha":%q}},"repository":{"full_name":"acme/gh","default_branch":"main"},"sender":{"login":"carol"}}`, action, branch, head, base)
}

// TestMergeRequestRunsTheMergeResult: a pull request's run builds what
// merging it would make — its branch's file and the file main gained since
// it branched are both there — and records the target commit; a pull
// request that conflicts with main fails saying so.
func TestMergeRequestRunsTheMergeResult(t *testing.T) {
	s := newStack(t)
	dir := s.dirs["github"]
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".sluice.yml", "version: 1\nbuild:\n  commands: [\"test -f main-only.txt\", \"test -f feature-only.txt\", 'test \"$SLUICE_MERGE\" != \"\"']\n")
	gitsrctest.Commit(t, dir, "spec")
	gitsrctest.Git(t, dir, "checkout", "-q", "-b", "feature/pr")
	write("feature-only.txt", "feature\n")
	head := gitsrctest.Commit(t, dir, "feature")
	gitsrctest.Git(t, dir, "checkout", "-q", "main")
	write("main-only.txt", "main\n")
	base := gitsrctest.Commit(t, dir, "main moved on")

	rc := &runs.Client{Temporal: s.c}
	ref := runs.Ref{WorkflowID: workflows.WorkflowID("acme/gh", "feature/pr")}
	body := githubPR("opened", "feature/pr", head, base)
	h := signed("github", s.secrets["github"], "pr-1", body)
	h.Set("X-GitHub-Event", "pull_request")
	if code, resp := s.post("github", h, body); code != http.StatusAccepted {
		t.Fatalf("pull request: %d %s", code, resp)
	}
	var st workflows.RunState
	poll.Until(t, "the pull request's run to end", func() bool {
		var err error
		_, st, err = rc.Status(context.Background(), ref)
		return err == nil && (st.State == workflows.StateSucceeded || st.State == workflows.StateFailed)
	})
	if st.State != workflows.StateSucceeded || st.Request.Push.Merge != base || st.Request.Push.Commit != head {
		t.Fatalf("the run of the merge result: %s %q, merge %s commit %s", st.State, st.Error, st.Request.Push.Merge, st.Request.Push.Commit)
	}

	// the branch now changes main's new file its own way
	gitsrctest.Git(t, dir, "checkout", "-q", "feature/pr")
	write("main-only.txt", "not main's\n")
	conflicting := gitsrctest.Commit(t, dir, "conflict")
	gitsrctest.Git(t, dir, "checkout", "-q", "main")
	body = githubPR("synchronize", "feature/pr", conflicting, base)
	h = signed("github", s.secrets["github"], "pr-2", body)
	h.Set("X-GitHub-Event", "pull_request")
	if code, resp := s.post("github", h, body); code != http.StatusAccepted {
		t.Fatalf("pull request update: %d %s", code, resp)
	}
	poll.Until(t, "the conflicting run to fail", func() bool {
		var err error
		_, st, err = rc.Status(context.Background(), ref)
		return err == nil && st.Request.Push.Commit == conflicting && st.State == workflows.StateFailed
	})
	if !strings.Contains(st.Error, "conflicts with its target branch (main-only.txt)") {
		t.Fatalf("the conflict: %q", st.Error)
	}
}
