package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/workflows"
)

// TestRecordsOutliveTemporal: with a Temporal retention of seconds, a run
// that was refused and approved is forgotten by Temporal soon after it
// ends; `sluice history` still shows its phases, the refusal and the
// approval with who and how, `sluice list` and `sluice audit` find it,
// and a redelivery of its push starts nothing.
func TestRecordsOutliveTemporal(t *testing.T) {
	e := newEnv(t)
	spec := "version: 1\nname: kept\nbuild:\n  commands: [\"true\"]\napproval:\n  approvers: {users: [alice]}\n  timeout: 48h\n"
	repo, commit := gitRepo(t, spec)
	cfg := filepath.Join(t.TempDir(), "sluice.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "repositories:\n  - {name: acme/kept, provider: github, clone_url: %q, webhook_secret: {env: KEPT_HOOK_SECRET}}\n", repo), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEPT_HOOK_SECRET", "kept-hook-secret")
	e.startDev("--config", cfg, "--temporal-retention", "3s")
	e.push("kept", commit, "kept-hook-secret")
	id := workflows.WorkflowID("acme/kept", "main")
	st := e.waitStateOr(id, "awaiting_approval", "failed", 3*time.Minute)
	if _, errOut, code := e.sluice("approve", st.RunID, "--as", "carol@example.com"); code == 0 || !strings.Contains(errOut, "author") {
		t.Fatalf("the author's approval: %d %s", code, errOut)
	}
	if _, errOut, code := e.sluice("approve", st.RunID, "--as", "alice", "--comment", "lgtm"); code != 0 {
		t.Fatalf("alice's approval: %d %s", code, errOut)
	}
	e.waitState(id, "succeeded", time.Minute)
	poll.Until(t, "Temporal to forget the run", func() bool {
		_, _, code := e.sluice("status", st.RunID)
		return code != 0
	})

	var rec contract.RunRecord
	if code := e.json(&rec, "history", st.RunID); code != 0 {
		t.Fatalf("history of a forgotten run: exit %d", code)
	}
	events := map[string]contract.RecordEvent{}
	for _, ev := range rec.Events {
		events[ev.Key] = ev
	}
	if rec.State != "succeeded" || rec.Commit != commit || rec.Finished.IsZero() {
		t.Errorf("record %+v", rec)
	}
	if ev := events["phase:build"]; ev.Status != "succeeded" {
		t.Errorf("build: %+v", ev)
	}
	if ev := events["refusal:0"]; ev.Actor != "carol@example.com" || ev.Via == "" || !strings.Contains(ev.Detail, "author") {
		t.Errorf("the refusal: %+v", ev)
	}
	if ev := events["approval:0"]; ev.Actor != "alice" || ev.Via == "" || ev.Detail != "lgtm" {
		t.Errorf("the approval: %+v", ev)
	}
	text, _, _ := e.sluice("history", st.RunID)
	for _, want := range []string{"build succeeded", "refused decision", "carol@example.com", "alice (", "lgtm"} {
		if !strings.Contains(text, want) {
			t.Errorf("history lacks %q:\n%s", want, text)
		}
	}

	var list []contract.RunRecord
	if code := e.json(&list, "list", "--repository", "acme/kept", "--state", "succeeded"); code != 0 || len(list) != 1 || list[0].RunID != rec.RunID {
		t.Errorf("list of acme/kept: exit %d, %+v", code, list)
	}
	var audit []records.AuditEntry
	if code := e.json(&audit, "audit", "--repository", "acme/kept"); code != 0 || len(audit) != 2 || audit[0].Actor != "carol@example.com" || audit[1].Actor != "alice" {
		t.Errorf("audit of acme/kept: exit %d, %+v", code, audit)
	}

	// Temporal has forgotten the push too: only the records refuse it
	if code, body := e.pushAnswer("kept", commit, "kept-hook-secret"); code != http.StatusOK || !strings.Contains(body, "duplicate") {
		t.Errorf("the push delivered again: %d %s, want 200 duplicate", code, body)
	}
	if _, _, code := e.sluice("status", id); code == 0 {
		t.Error("the push delivered again started a run")
	}
}
