package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/testenv/pgtest"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestSampleOnAMultiServiceTemporal runs the sample app's pipeline (build,
// test, approval) against a Temporal cluster of four processes — frontend,
// history, matching and worker, each `sluice temporal` with one service —
// with four history shards over PostgreSQL, and a `sluice server` and a
// `sluice worker` dialling its frontend: the topology of a company that
// has outgrown one machine. The history process is killed and started
// again while the run waits for its approval.
func TestSampleOnAMultiServiceTemporal(t *testing.T) {
	e := newEnv(t)
	pg := pgtest.Start(t)
	t.Setenv("SLUICE_TEMPORAL_DB_PASSWORD", pg.Password)
	ports := []string{"history=" + strconv.Itoa(freePort(t)), "matching=" + strconv.Itoa(freePort(t)), "worker=" + strconv.Itoa(freePort(t))}
	service := func(name string) *proc {
		p := e.start("temporal", "--services", name, "--temporal-db", pg.URL("temporal"), "--temporal-port", strconv.Itoa(e.temporal),
			"--service-ports", strings.Join(ports, ","), "--history-shards", "4")
		poll.UntilWithin(t, 2*time.Minute, "Temporal's "+name+" service", func() bool {
			if p.exited() {
				t.Fatalf("temporal %s exited:\n%s", name, p.out.String())
			}
			return strings.Contains(p.out.String(), "Temporal "+name+" running")
		})
		return p
	}
	// one at a time: the first makes the schema and the namespace
	procs := map[string]*proc{}
	t.Cleanup(func() {
		if t.Failed() {
			for name, p := range procs {
				out := p.out.String()
				t.Logf("temporal %s said (last 3000 bytes):\n%s", name, out[max(0, len(out)-3000):])
			}
		}
	})
	for _, name := range []string{"history", "matching", "frontend", "worker"} {
		procs[name] = service(name)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yml")
	e.token = "alice-token-0123456789"
	if err := os.WriteFile(cfg, []byte("api_tokens:\n  - {name: alice-laptop, user: alice, token: {env: ALICE_TOKEN}}\n  - {name: bob-laptop, user: bob, token: {env: BOB_TOKEN}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALICE_TOKEN", e.token)
	t.Setenv("BOB_TOKEN", "bob-token-0123456789")
	procs["sluice server"] = e.start("server", "--config", cfg, "--data-dir", e.dataDir, "--http-port", strconv.Itoa(e.http))
	procs["sluice worker"] = e.start("worker", "--config", cfg, "--data-dir", e.dataDir, "--step-home", stepHome)
	repo, commit := gitRepo(t, "")
	var started struct {
		RunID  string `json:"run_id"`
		Commit string `json:"commit"`
	}
	var why string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the last sluice run: %s", why)
		}
	})
	poll.Until(t, "the server to start the run", func() bool {
		out, errOut, code := e.sluice("run", "--repo", repo, "--ref", "main", "-o", "json")
		why = fmt.Sprintf("%d %s %s", code, out, errOut)
		return code == 0 && json.Unmarshal([]byte(out), &started) == nil && started.Commit == commit
	})
	t.Logf("started: %s", why)
	e.waitState(started.RunID, "awaiting_approval", 3*time.Minute)

	procs["history"].kill(9)
	procs["history"] = service("history")
	var last string
	poll.UntilWithin(t, 2*time.Minute, "the approval through the cluster", func() bool {
		// bob: alice started the run, and may not approve her own
		out, errOut, code := e.sluice("approve", started.RunID, "--comment", "lgtm", "--token", "bob-token-0123456789")
		if last != errOut {
			t.Logf("approve: %d %s %s", code, out, errOut)
		}
		last = errOut
		return code == 0
	})
	st := e.waitState(started.RunID, "succeeded", 2*time.Minute)
	for _, p := range st.Phases {
		if p.Status != "succeeded" {
			t.Errorf("phase %s %s", p.Name, p.Status)
		}
	}
	if st.Approval == nil || st.Approval.Status != "approved" {
		t.Errorf("approval: %+v", st.Approval)
	}
	t.Logf("run %s succeeded on frontend, history (restarted), matching and worker processes", started.RunID)
}
