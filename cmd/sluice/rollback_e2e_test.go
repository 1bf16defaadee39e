package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/workflows"
)

// TestRollbackNeedsProductionsApproval: on a server whose production
// environment has an approval rule, a rollback asked by a releaser waits
// for it: a viewer may not ask, the requester may not approve their own
// (though an approver), and nothing reaches the release until another
// approver approves through the server. (There is no release to bring
// back: the approved rollback then fails at the release, saying why.)
func TestRollbackNeedsProductionsApproval(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yml")
	body := `repositories:
  - {name: acme/pay, provider: github, clone_url: /nonexistent/pay, webhook_secret: {env: HOOK}}
projects:
  - name: payments
    repositories: [acme/pay]
    environments:
      production:
        namespaces: [pay-prod]
        approval: {required: 1, users: [alice, rita], timeout: 1h}
api_tokens:
  - {name: rita-laptop, user: rita, token: {file: "` + writeToken(t, dir, "rita", "rita-token-0123456789") + `"}, roles: {payments: [releaser, approver]}}
  - {name: alice-laptop, user: alice, token: {file: "` + writeToken(t, dir, "alice", "alice-token-0123456789") + `"}, roles: {payments: [approver]}}
  - {name: viewer, token: {file: "` + writeToken(t, dir, "viewer", "viewer-token-0123456789") + `"}, roles: {payments: [viewer]}}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOK", "rollback-approval-webhook-secret")
	e.startDev("--config", cfg)
	r := &roleEnv{env: e, api: "http://127.0.0.1:" + strconv.Itoa(e.http)}
	ask := map[string]string{"pipeline": "web", "namespace": "pay-prod", "reason": "v2 is slow"}

	if code, out := r.call("viewer-token-0123456789", http.MethodPost, "/api/v1/rollbacks", ask); code != http.StatusForbidden {
		t.Fatalf("a viewer's rollback: %d %v", code, out)
	}
	c, err := client.Dial(client.Options{HostPort: e.temporalAddress()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.DescribeWorkflowExecution(ctx, workflows.RollbackWorkflowID("pay-prod", "web"), ""); err == nil {
		t.Fatal("a viewer's refused rollback started a run")
	}

	code, out := r.call("rita-token-0123456789", http.MethodPost, "/api/v1/rollbacks", ask)
	if code != http.StatusAccepted || out["approval"] == nil {
		t.Fatalf("rita's rollback: %d %v", code, out)
	}
	refMap := out["ref"].(map[string]any)
	ref := runs.Ref{WorkflowID: refMap["workflow_id"].(string), RunID: refMap["run_id"].(string)}
	rc := &runs.Client{Temporal: c}
	poll.Until(t, "the rollback to wait for its approval", func() bool {
		st, err := rc.RollbackState(ctx, ref)
		return err == nil && st.Status == workflows.RollbackAwaitingApproval
	})
	if code, out := r.call("rita-token-0123456789", http.MethodPost, "/api/v1/decisions", map[string]any{"run": ref.String(), "approve": true}); code != http.StatusConflict ||
		!strings.Contains(out["refused"].(string), workflows.RefusedRequester) {
		t.Fatalf("rita approving her own rollback: %d %v", code, out)
	}
	if scheduled(t, c, ref, "RollbackRelease") {
		t.Fatal("the rollback reached the release before its approval")
	}
	if out, errOut, code := e.sluice("status", ref.String(), "--token", "alice-token-0123456789"); code != 0 ||
		!strings.Contains(out, "asked by rita (API token rita-laptop)") || !strings.Contains(out, "state awaiting_approval") ||
		!strings.Contains(out, "approval 0 of 1 from alice, rita") {
		t.Fatalf("sluice status of the waiting rollback: %d %s %s", code, out, errOut)
	}
	out2, errOut, code2 := e.sluice("approve", ref.String(), "--token", "alice-token-0123456789")
	if code2 != 0 || !strings.Contains(out2, "approved by alice") {
		t.Fatalf("alice's approval: %d %s %s", code2, out2, errOut)
	}
	// approved, the rollback goes on to the release, which fails here:
	// there is no cluster (or, with the platform's KUBECONFIG, no release
	// of web in pay-prod)
	if _, err := rc.RollbackResult(ctx, ref); err == nil || !strings.Contains(err.Error(), "RollbackRelease") {
		t.Fatalf("the approved rollback: %v, want the release's failure", err)
	}
	if !scheduled(t, c, ref, "RollbackRelease") {
		t.Fatal("the approved rollback never reached the release")
	}
	if out, errOut, code := e.sluice("status", ref.String(), "--token", "alice-token-0123456789"); code != 0 ||
		!strings.Contains(out, "state failed") || !strings.Contains(out, "approved by alice") {
		t.Fatalf("sluice status of the ended rollback: %d %s %s", code, out, errOut)
	}
}

// scheduled tells whether a run's history schedules activity name.
func scheduled(t *testing.T, c client.Client, ref runs.Ref, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, ref.WorkflowID, ref.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == name {
			return true
		}
	}
	return false
}
