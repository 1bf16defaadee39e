package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

const gateSpec = `version: 1
name: hello
build:
  commands: ["true"]
approval:
  approvers:
    users: [alice, bob]
  required: 1
  timeout: 1h
  reminder: 30m
`

// TestApproverIdentityComesFromTheServer: on a server with API tokens (not
// single-user dev mode) the token says who decides. --as is refused, an
// update sent to Temporal directly (anyone on the port can) does not count,
// and `sluice approve` with alice's token approves as alice, recorded with
// how she was identified.
func TestApproverIdentityComesFromTheServer(t *testing.T) {
	e := newEnv(t)
	const aliceToken = "alice-token-0123456789abcdef"
	cfg := filepath.Join(t.TempDir(), "sluice.yml")
	const ciToken = "ci-token-0123456789abcdef"
	t.Setenv("ALICE_API_TOKEN", aliceToken)
	t.Setenv("CI_API_TOKEN", ciToken)
	if err := os.WriteFile(cfg, []byte("api_tokens:\n  - {name: alice-laptop, user: alice, token: {env: ALICE_API_TOKEN}}\n  - {name: ci, token: {env: CI_API_TOKEN}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startDev("--config", cfg)
	e.token = ciToken
	repo, _ := gitRepo(t, gateSpec)
	var started struct {
		RunID string `json:"run_id"`
	}
	// the run is asked for by the CI's token (its pusher has no user)
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main", "--token", ciToken); code != 0 {
		_, errOut, _ := e.sluice("run", "--repo", repo, "--ref", "main", "--token", ciToken)
		t.Fatalf("run: code %d %s", code, errOut)
	}
	e.waitState(started.RunID, "awaiting_approval", time.Minute)

	if _, errOut, code := e.sluice("approve", started.RunID, "--as", "bob", "--token", aliceToken); code != 1 || !strings.Contains(errOut, "single-user dev mode") {
		t.Fatalf("--as on a server with tokens: code %d err %q", code, errOut)
	}

	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(e.temporal)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ref, err := runs.ParseRef(started.RunID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&runs.Client{Temporal: c}).Decide(context.Background(), ref, "", true, workflows.Decision{User: "bob", Via: "cli"})
	if !errors.Is(err, runs.ErrRefused) || !strings.Contains(err.Error(), "not verified") {
		t.Fatalf("decision sent to Temporal directly: %v", err)
	}

	out, errOut, code := e.sluice("approve", started.RunID, "--token", aliceToken, "--comment", "ship it")
	if code != 0 || !strings.Contains(out, "approved by alice") {
		t.Fatalf("approve with alice's token: code %d out %q err %q", code, out, errOut)
	}
	e.waitState(started.RunID, "succeeded", time.Minute)
	var st struct {
		Approval struct {
			Approvals []struct {
				User string `json:"user"`
				Via  string `json:"via"`
			} `json:"approvals"`
		} `json:"approval"`
	}
	if e.json(&st, "status", started.RunID) != 0 || len(st.Approval.Approvals) != 1 ||
		st.Approval.Approvals[0].User != "alice" || st.Approval.Approvals[0].Via != "api-token:alice-laptop" {
		t.Fatalf("recorded approvals %+v", st.Approval.Approvals)
	}
}

// TestLinkedIdentityCannotApprove: the configuration links the token user
// cj and the commit's author carol@example.com to one chat id; cj, though
// an approver, may not approve carol's change (the gate alone compares
// names, and cj is not carol's); another approver may.
func TestLinkedIdentityCannotApprove(t *testing.T) {
	e := newEnv(t)
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer chat.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yml")
	t.Setenv("CHAT_HOOK", chat.URL)
	body := `api_tokens:
  - {name: cj-laptop, user: cj, token: {file: "` + writeToken(t, dir, "cj", "cj-token-0123456789") + `"}}
  - {name: alice-laptop, user: alice, token: {file: "` + writeToken(t, dir, "alice", "alice-token-0123456789") + `"}}
  - {name: ci, token: {file: "` + writeToken(t, dir, "ci", "ci-token-0123456789") + `"}}
slack:
  incoming_webhook: {env: CHAT_HOOK}
  channel: "#releases"
  users: {cj: U0CJ, carol@example.com: U0CJ}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startDev("--config", cfg)
	e.token = "ci-token-0123456789" // starts the run: its pusher is nobody's
	repo, _ := gitRepo(t, strings.Replace(gateSpec, "users: [alice, bob]", "users: [alice, cj]", 1))
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		t.Fatalf("run: code %d", code)
	}
	e.waitState(started.RunID, "awaiting_approval", time.Minute)
	if _, errOut, code := e.sluice("approve", started.RunID, "--token", "cj-token-0123456789"); code == 0 ||
		!strings.Contains(errOut, "author of the change cannot approve") || !strings.Contains(errOut, "U0CJ") {
		t.Fatalf("cj approving carol's change: %d %s", code, errOut)
	}
	if st := e.waitState(started.RunID, "awaiting_approval", time.Minute); st.Approval == nil || st.Approval.Status != "pending" {
		t.Fatalf("after cj's refused approval: %+v", st)
	}
	if out, errOut, code := e.sluice("approve", started.RunID, "--token", "alice-token-0123456789"); code != 0 || !strings.Contains(out, "approved by alice") {
		t.Fatalf("alice's approval: %d %s %s", code, out, errOut)
	}
	e.waitState(started.RunID, "succeeded", time.Minute)
}
