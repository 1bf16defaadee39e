package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/workflows"
)

// scheduledSpec builds only in scheduled runs and checks that the step was
// told so, with the schedule's input; its test phase is for pushes.
const scheduledSpec = `version: 1
inputs:
  target: {type: choice, options: [staging, qa], default: staging}
build:
  commands: ['test "$SLUICE_EVENT" = schedule', 'test "$SLUICE_INPUT_TARGET" = qa']
  when: {events: [schedule]}
test:
  commands: ["true"]
  when: {events: [push]}
`

// TestSchedules drives `sluice schedule` against `sluice dev`: a bad
// cron expression and an undeclared input are refused before anything is
// scheduled; a schedule every 10 s starts runs of the branch's head as
// scheduled runs (the build sees SLUICE_EVENT=schedule and the input,
// the push-only test phase is skipped by its rule); list shows it and
// delete removes it.
func TestSchedules(t *testing.T) {
	e := newEnv(t)
	repo, commit := gitRepo(t, scheduledSpec)
	e.startDev()

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--cron", "0 3 * *"}, "five fields"},
		{[]string{"--every", "2s"}, "at least 10s"},
		{[]string{"--every", "10s", "--input", "colour=blue"}, "input colour is not declared"},
		{[]string{"--every", "10s", "--input", "target=prod"}, `"prod" is not one of staging, qa`},
		{[]string{"--cron", "0 3 * * *", "--timezone", "Mars/Olympus"}, "not a time zone"},
	} {
		args := append([]string{"schedule", "create", "nightly", "--repo", repo, "--ref", "main"}, bad.args...)
		out, errOut, code := e.sluice(args...)
		if code == 0 || !strings.Contains(errOut, bad.want) {
			t.Fatalf("schedule create %v: exit %d, %s%s; want %q", bad.args, code, out, errOut, bad.want)
		}
	}
	if out, _, _ := e.sluice("schedule", "list"); !strings.Contains(out, "no schedules") {
		t.Fatalf("refused schedules were made: %s", out)
	}

	out, errOut, code := e.sluice("schedule", "create", "nightly", "--repo", repo, "--ref", "main", "--every", "10s", "--input", "target=qa")
	if code != 0 || !strings.Contains(out, "nightly") || !strings.Contains(out, "every 10s") {
		t.Fatalf("schedule create: exit %d %s%s", code, out, errOut)
	}
	run := workflows.WorkflowID("hello", "main")
	st := e.waitState(run, "succeeded", 2*time.Minute)
	if st.Commit != commit || len(st.Phases) != 1 || st.Phases[0].Name != "build" {
		t.Fatalf("scheduled run: %+v", st)
	}
	var full struct {
		Event   string            `json:"event"`
		Inputs  map[string]string `json:"inputs"`
		Skipped []struct{ Phase, Rule string }
	}
	e.json(&full, "status", run)
	if full.Event != "schedule" || full.Inputs["target"] != "qa" || len(full.Skipped) != 1 || full.Skipped[0].Phase != "test" {
		t.Fatalf("scheduled run's status: %+v", full)
	}

	if out, _, _ := e.sluice("schedule", "list"); !strings.Contains(out, "nightly") || !strings.Contains(out, "by ") {
		t.Fatalf("schedule list: %s", out)
	}
	if out, errOut, code := e.sluice("schedule", "delete", "nightly"); code != 0 {
		t.Fatalf("schedule delete: %d %s%s", code, out, errOut)
	}
	if out, _, _ := e.sluice("schedule", "list"); !strings.Contains(out, "no schedules") {
		t.Fatalf("after delete: %s", out)
	}
	if _, errOut, code := e.sluice("schedule", "delete", "nightly"); code == 0 || !strings.Contains(errOut, `no schedule "nightly"`) {
		t.Fatalf("deleting it again: %d %s", code, errOut)
	}
}
