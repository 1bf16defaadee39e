package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// roleSpec waits at an approval after a one-line build.
const roleSpec = `version: 1
build: {commands: ["echo built"]}
approval: {approvers: {users: [alice, bob]}, timeout: 1h, reminder: 30m}
`

// roleTokens: one token per role, each holding it in project payments
// only; root holds admin everywhere and sets the scene.
var roleTokens = map[string]string{
	access.Viewer: "viewer-token-0123456789", access.Developer: "developer-token-0123456789",
	access.Approver: "approver-token-0123456789", access.Releaser: "releaser-token-0123456789",
	access.Admin: "admin-token-0123456789",
}

const rootToken = "root-token-0123456789abcdef"

// roleEnv is a `sluice dev` with two projects and a token per role.
type roleEnv struct {
	*env
	api   string
	repos map[string]string // project -> repository name
	paths map[string]string // project -> the repository's directory
}

// branch makes a new branch of project's repository at its head: each run
// has a branch of its own, so none supersedes another.
func (r *roleEnv) branch(project string) string {
	r.t.Helper()
	branchSeq++
	name := fmt.Sprintf("b%d", branchSeq)
	if out, err := exec.Command("git", "-C", r.paths[project], "branch", name).CombinedOutput(); err != nil {
		r.t.Fatalf("git branch: %v %s", err, out)
	}
	return name
}

func (r *roleEnv) call(token, method, path string, body any) (int, map[string]any) {
	r.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, r.api+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if json.Unmarshal(data, &out) != nil {
		out = map[string]any{"text": string(data)}
	}
	return resp.StatusCode, out
}

var branchSeq int

// count counts the runs of workflow type wf Temporal knows.
func (r *roleEnv) count(wf string) int {
	r.t.Helper()
	c, err := client.Dial(client.Options{HostPort: r.temporalAddress()})
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowType = '" + wf + "'", PageSize: 1000})
	if err != nil {
		r.t.Fatal(err)
	}
	return len(resp.Executions)
}

// podKill is the sample's pod-kill experiment.
func podKill(t *testing.T) string {
	b, err := os.ReadFile("../../examples/hello/chaos/pod-kill.yml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waiting starts a run of project's repository on a branch of its own and
// waits until it waits for approval; it returns the run's id.
func (r *roleEnv) waiting(project string) string {
	r.t.Helper()
	code, out := r.call(rootToken, http.MethodPost, "/api/v1/runs", map[string]string{"repo": r.repos[project], "branch": r.branch(project)})
	if code != http.StatusAccepted {
		r.t.Fatalf("start a run: %d %v", code, out)
	}
	ref := out["ref"].(map[string]any)
	id := ref["workflow_id"].(string) + "@" + ref["run_id"].(string)
	r.waitState(id, "awaiting_approval", time.Minute)
	return id
}

// cancelled is a run of project cancelled by root, to be retried.
func (r *roleEnv) cancelled(project string) string {
	r.t.Helper()
	id := r.waiting(project)
	if code, out := r.call(rootToken, http.MethodPost, "/api/v1/cancellations", map[string]string{"run": id}); code != http.StatusAccepted {
		r.t.Fatalf("cancel: %d %v", code, out)
	}
	r.waitState(id, "cancelled", time.Minute)
	return id
}

func (r *roleEnv) state(id string) string {
	var st statusOut
	r.json(&st, "status", id, "--token", rootToken)
	return st.State
}

// runsOf counts the runs of project's repository Sluice's records hold.
func (r *roleEnv) runsOf(project string) int {
	var list []map[string]any
	r.json(&list, "list", "--limit", "500", "--token", rootToken)
	n := 0
	for _, run := range list {
		if strings.Contains(fmt.Sprint(run), r.repos[project]) {
			n++
		}
	}
	return n
}

// TestRoleMatrix: every role × every action the API enforces (status,
// logs, run, retry, cancel, approve, reject, rollback, chaos run), in the
// token's own project and in another: allowed and done, or 403 with nothing changed. The CLI
// goes through the same API. (Pool sizing, which needs a cluster, is
// TestPoolSizingNeedsItsProjectsAdmin.)
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	repos := map[string]string{"payments": "acme/pay", "search": "acme/search"}
	paths := map[string]string{}
	var repoLines, projectLines, tokenLines strings.Builder
	for project, name := range repos {
		path, _ := gitsrctest.Repo(t, "../../examples/hello", roleSpec)
		paths[project] = path
		fmt.Fprintf(&repoLines, "  - {name: %s, provider: github, clone_url: %q, webhook_secret: {env: HOOK}}\n", name, path)
		fmt.Fprintf(&projectLines, "  - {name: %s, repositories: [%s], environments: {staging: {namespaces: [%s-staging]}, production: {namespaces: [%s-prod]}}}\n", project, name, project, project)
	}
	users := map[string]string{access.Approver: "alice", access.Admin: "bob"}
	for role, token := range roleTokens {
		file := filepath.Join(dir, role)
		if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		user := ""
		if u := users[role]; u != "" {
			user = ", user: " + u
		}
		fmt.Fprintf(&tokenLines, "  - {name: %s%s, token: {file: %q}, roles: {payments: [%s]}}\n", role, user, file, role)
	}
	rootFile := filepath.Join(dir, "root")
	if err := os.WriteFile(rootFile, []byte(rootToken), 0o600); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&tokenLines, "  - {name: root, token: {file: %q}, roles: {\"*\": [admin]}}\n", rootFile)
	cfg := filepath.Join(dir, "sluice.yaml")
	body := "repositories:\n" + repoLines.String() + "projects:\n" + projectLines.String() + "api_tokens:\n" + tokenLines.String()
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOK", "role-matrix-webhook-secret")
	e.startDev("--config", cfg)
	e.token = rootToken
	r := &roleEnv{env: e, api: "http://127.0.0.1:" + strconv.Itoa(e.http), repos: repos, paths: paths}

	// a waiting run and a cancelled one in each project stay as they are
	// through every refusal
	fixed := map[string]string{}
	for project := range repos {
		fixed[project+"/waiting"] = r.waiting(project)
		fixed[project+"/cancelled"] = r.cancelled(project)
	}
	commit := func(id string) string {
		var st statusOut
		r.json(&st, "status", id, "--token", rootToken)
		return st.Commit
	}
	for _, role := range access.Roles {
		token := roleTokens[role]
		for _, project := range []string{"payments", "search"} {
			for _, action := range []string{access.Status, access.Logs, access.Run, access.Retry, access.Cancel, access.Approve, access.Reject, access.Rollback, access.ChaosRun} {
				allowed := project == "payments" && access.Allows(role, action)
				t.Run(fmt.Sprintf("%s/%s/%s", role, project, action), func(t *testing.T) {
					r.t = t
					defer func() { r.t = e.t }()
					// the run acted on: a fresh one when the action may
					// change it, else the fixed one
					target := fixed[project+"/waiting"]
					if action == access.Retry {
						target = fixed[project+"/cancelled"]
					}
					if allowed && action != access.Logs && action != access.Run {
						if action == access.Retry {
							target = r.cancelled(project)
						} else {
							target = r.waiting(project)
						}
					}
					before, experiments, rollbacks := r.runsOf(project), r.count("Chaos"), r.count("Rollback")
					var code int
					var out map[string]any
					switch action {
					case access.Status:
						code, out = r.call(token, http.MethodGet, "/api/v1/status?run="+url.QueryEscape(target), nil)
					case access.Rollback:
						code, out = r.call(token, http.MethodPost, "/api/v1/rollbacks", map[string]string{
							"pipeline": "web-" + role, "namespace": project + "-prod", "reason": "matrix"})
					case access.Logs:
						wf, run, _ := strings.Cut(target, "@")
						code, out = r.call(token, http.MethodGet, "/api/v1/logs/"+url.PathEscape(run)+"?workflow="+url.QueryEscape(wf), nil)
					case access.Run:
						code, out = r.call(token, http.MethodPost, "/api/v1/runs", map[string]string{"repo": repos[project], "branch": r.branch(project)})
					case access.Retry:
						code, out = r.call(token, http.MethodPost, "/api/v1/retries", map[string]string{"run": target})
					case access.Cancel:
						code, out = r.call(token, http.MethodPost, "/api/v1/cancellations", map[string]string{"run": target})
					case access.ChaosRun:
						code, out = r.call(token, http.MethodPost, "/api/v1/chaos", map[string]string{
							"file": "pod-kill.yml", "experiment": podKill(t), "target_namespace": project + "-staging"})
					case access.Approve, access.Reject:
						code, out = r.call(token, http.MethodPost, "/api/v1/decisions", map[string]any{
							"run": target, "commit": commit(target), "approve": action == access.Approve, "comment": "matrix"})
					}
					if !allowed {
						if code != http.StatusForbidden {
							t.Fatalf("%d %v, want 403", code, out)
						}
						if got := r.runsOf(project); got != before {
							t.Fatalf("runs of %s: %d, were %d", project, got, before)
						}
						if got := r.count("Chaos"); got != experiments {
							t.Fatalf("experiments: %d, were %d", got, experiments)
						}
						if got := r.count("Rollback"); got != rollbacks {
							t.Fatalf("rollbacks: %d, were %d", got, rollbacks)
						}
						return
					}
					want := map[string]string{access.Cancel: "cancelled", access.Approve: "succeeded", access.Reject: "rejected"}[action]
					switch {
					case code == http.StatusForbidden:
						t.Fatalf("refused: %v", out)
					case (action == access.Logs || action == access.Status) && code != http.StatusOK,
						action == access.Rollback && code != http.StatusAccepted,
						(action == access.Run || action == access.Retry || action == access.Cancel || action == access.ChaosRun) && code != http.StatusAccepted,
						(action == access.Approve || action == access.Reject) && code != http.StatusOK:
						t.Fatalf("%d %v", code, out)
					case action == access.ChaosRun:
						if id, _ := out["id"].(string); !strings.HasPrefix(id, "chaos/pod-kill/") {
							t.Fatalf("no experiment started: %v", out)
						}
						poll.Until(t, "the experiment in Temporal's list", func() bool { return r.count("Chaos") == experiments+1 })
					case action == access.Rollback:
						poll.Until(t, "the rollback in Temporal's list", func() bool { return r.count("Rollback") == rollbacks+1 })
					case action == access.Status:
						if st, _ := out["state"].(map[string]any); st == nil || st["state"] != "awaiting_approval" {
							t.Fatalf("status: %v", out)
						}
					case action == access.Run || action == access.Retry:
						poll.Until(t, "a new run of "+project, func() bool { return r.runsOf(project) > before })
					case want != "":
						r.waitState(target, want, time.Minute)
					}
				})
			}
		}
	}
	// the fixed runs went through every refusal unchanged
	for key, id := range fixed {
		want := "awaiting_approval"
		if strings.HasSuffix(key, "/cancelled") {
			want = "cancelled"
		}
		if got := r.state(id); got != want {
			t.Errorf("%s %s is %s, want %s", key, id, got, want)
		}
	}
	// sluice list shows a token only the runs of its projects
	var listed []map[string]any
	if code := r.json(&listed, "list", "--limit", "500", "--token", roleTokens[access.Viewer]); code != 0 || len(listed) == 0 {
		t.Fatalf("a viewer's list: code %d, %d runs", code, len(listed))
	}
	for _, run := range listed {
		if run["project"] != "payments" {
			t.Errorf("payments' viewer sees %v of project %v", run["workflow_id"], run["project"])
		}
	}
	// the CLI asks the same API: a viewer's cancel is refused, a
	// developer's goes through
	id := r.waiting("payments")
	if _, errOut, code := e.sluice("cancel", id, "--token", roleTokens[access.Viewer]); code == 0 || !strings.Contains(errOut, "has no role that may cancel in project payments") {
		t.Fatalf("viewer's sluice cancel: %d %s", code, errOut)
	}
	if _, errOut, code := e.sluice("cancel", id, "--token", roleTokens[access.Developer]); code != 0 {
		t.Fatalf("developer's sluice cancel: %d %s", code, errOut)
	}
	r.waitState(id, "cancelled", time.Minute)

	// schedules: the run role makes and deletes them in its own project
	// only, and a token lists only its projects' schedules
	schedule := func(token, name, project string) int {
		code, _ := r.call(token, http.MethodPost, "/api/v1/schedules", map[string]any{"schedule": name,
			"run": map[string]string{"repo": repos[project], "branch": "main"}, "when": map[string]string{"cron": "0 3 * * *"}})
		return code
	}
	for _, c := range []struct {
		token, name, project string
		want                 int
	}{
		{roleTokens[access.Viewer], "viewer-nightly", "payments", http.StatusForbidden},
		{roleTokens[access.Developer], "search-nightly", "search", http.StatusForbidden},
		{roleTokens[access.Developer], "payments-nightly", "payments", http.StatusCreated},
		{rootToken, "search-nightly", "search", http.StatusCreated},
	} {
		if code := schedule(c.token, c.name, c.project); code != c.want {
			t.Errorf("schedule %s in %s: %d, want %d", c.name, c.project, code, c.want)
		}
	}
	var listed2 []map[string]any
	if code := r.json(&listed2, "schedule", "list", "--token", roleTokens[access.Developer]); code != 0 || len(listed2) != 1 || !strings.Contains(fmt.Sprint(listed2[0]), "payments-nightly") {
		t.Errorf("a developer's schedule list: %d %v", code, listed2)
	}
	for _, c := range []struct {
		token, name string
		want        int
	}{
		{roleTokens[access.Developer], "search-nightly", http.StatusForbidden},
		{roleTokens[access.Viewer], "payments-nightly", http.StatusForbidden},
		{roleTokens[access.Developer], "payments-nightly", http.StatusOK},
		{rootToken, "search-nightly", http.StatusOK},
	} {
		if code, out := r.call(c.token, http.MethodDelete, "/api/v1/schedules/"+c.name, nil); code != c.want {
			t.Errorf("delete schedule %s: %d %v, want %d", c.name, code, out, c.want)
		}
	}
}
