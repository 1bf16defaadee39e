package pipelines

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

const jobsSpec = `version: 1
build:
  pool: go
  commands: [go build ./...]
test:
  jobs:
    lint:
      commands: [go vet ./...]
    unit:
      matrix:
        axes:
          go: ["1.25", "1.26"]
          arch: [amd64, arm64]
        exclude: [{go: "1.25", arch: arm64}]
        include: [{go: "1.27", arch: amd64}]
      commands: [GOARCH=$MATRIX_ARCH go test ./...]
    race:
      needs: [unit, lint]
      pool: big
      env: {GOFLAGS: -race}
      commands: [go test -race ./...]
      timeout: 20m
`

func TestJobsExpandToCells(t *testing.T) {
	s, err := Parse(FileName, []byte(jobsSpec), "app")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range s.Test.Jobs.Cells() {
		names = append(names, c.Name())
	}
	want := []string{
		"lint",
		"race",
		"unit (arch=amd64, go=1.25)",
		"unit (arch=amd64, go=1.26)",
		"unit (arch=arm64, go=1.26)",
		"unit (arch=amd64, go=1.27)",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("cells\n got %q\nwant %q", names, want)
	}
	cells := s.Test.Jobs.Cells()
	if k := cells[4].Key(); k != "unit-2" {
		t.Errorf("key %q", k)
	}
	if e := cells[4].Env(); e["MATRIX_ARCH"] != "arm64" || e["MATRIX_GO"] != "1.26" || len(e) != 2 {
		t.Errorf("env %v", e)
	}
	if !FailsFast(s.Test.FailFast) {
		t.Error("fail-fast is the default")
	}
	if r := s.Test.Jobs["race"]; r.Pool != "big" || r.Timeout.D().Minutes() != 20 || !slices.Equal(r.Needs, []string{"unit", "lint"}) {
		t.Errorf("race %+v", r)
	}
}

func TestJobProblems(t *testing.T) {
	head := "version: 1\ntest:\n  jobs:\n"
	cases := []struct {
		name, src string
		line, col int
		message   string
	}{
		{"unknown need", "    a: {commands: [x], needs: [b]}\n", 4, 32, `job a needs "b", which is not a job of test`},
		{"cycle", "    a: {commands: [x], needs: [c]}\n    b: {commands: [x], needs: [a]}\n    c:\n      commands: [x]\n      needs: [b]\n", 4, 31, "cycle: a → c → b → a"},
		{"self", "    a: {commands: [x], needs: [a]}\n", 4, 32, "job a needs itself"},
		{"no commands", "    a: {needs: []}\n", 4, 5, "no commands"},
		{"bad name", "    A_1: {commands: [x]}\n", 4, 5, `bad job name "A_1"`},
		{"matrix too large", "    a:\n      commands: [x]\n      matrix: {axes: {x: [1,2,3,4,5,6], y: [1,2,3,4,5,6]}}\n", 3, 3, "expand to 36 cells"},
		{"matrix without axes", "    a: {commands: [x], matrix: {}}\n", 4, 24, "a matrix needs axes"},
		{"unknown axis in exclude", "    a:\n      commands: [x]\n      matrix:\n        axes: {go: [a, b]}\n        exclude: [{os: linux}]\n", 8, 24, `exclude names axis "os"`},
		{"partial include", "    a:\n      commands: [x]\n      matrix:\n        axes: {go: [a], os: [l]}\n        include: [{go: c}]\n", 8, 19, "names 1 of the 2 axes"},
		{"bad axis", "    a:\n      commands: [x]\n      matrix: {axes: {Go: [a]}}\n", 6, 27, `bad axis name "Go"`},
		{"both commands and jobs", "    a: {commands: [x]}\n  commands: [y]\n", 3, 3, "both commands and jobs"},
		{"cache without paths", "    a:\n      commands: [x]\n      cache: {key: [go.sum]}\n", 6, 7, "cache needs paths"},
		{"cache path leaving", "    a:\n      commands: [x]\n      cache: {key: [go.sum], paths: [.cache, ../up]}\n", 6, 46, `bad path "../up"`},
		{"cache of the workspace", "    a:\n      commands: [x]\n      cache: {key: [./], paths: [.cache]}\n", 6, 21, `bad path "./"`},
		{"phase junit", "    a: {commands: [x]}\n  junit: r.xml\n", 5, 10, "junit belongs to a job"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(FileName, []byte(head+tc.src), "app")
			if p := problemAt(t, err, tc.message, tc.line, tc.col); p.Hint == "" {
				t.Errorf("%q has no hint", p.Message)
			}
		})
	}
	if _, err := Parse(FileName, []byte("version: 1\ntest:\n  commands: [x]\n  fail-fast: false\n"), "app"); err == nil || !strings.Contains(err.Error(), "fail-fast is about jobs") {
		t.Errorf("fail-fast without jobs: %v", err)
	}
}

// TestJobRules: a job whose `when` does not hold is removed with the jobs
// that need it, each said with its rule; the phase runs the others. When
// no job is left, the phase is skipped, and so is what needs it.
func TestJobRules(t *testing.T) {
	src := `version: 1
test:
  jobs:
    unit: {commands: [go test]}
    race:
      commands: [go test -race]
      when: {branches: [main]}
    fuzz:
      commands: [go test -fuzz]
      needs: [race]
bake: {image: 127.0.0.1:5000/app}
`
	feature, err := Parse(FileName, []byte(src), "app")
	if err != nil {
		t.Fatal(err)
	}
	got := feature.ApplyRules(Facts{Event: EventPush, Branch: "feature/x"})
	want := []Skip{
		{Phase: PhaseTest, Job: "race", Rule: "test.jobs.race.when: branch feature/x not in branches [main]"},
		{Phase: PhaseTest, Job: "fuzz", Rule: "needs job race, which its rule skips"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("skipped %v, want %v", got, want)
	}
	if feature.Test == nil || !slices.Equal(feature.Test.Jobs.Names(), []string{"unit"}) || feature.Bake == nil {
		t.Fatalf("feature branch keeps %+v", feature.Test)
	}
	if got[1].What() != "test job fuzz" {
		t.Errorf("what %q", got[1].What())
	}

	none := strings.Replace(src, "unit: {commands: [go test]}", "unit: {commands: [go test], when: {events: [tag]}}", 1)
	s, err := Parse(FileName, []byte(none), "app")
	if err != nil {
		t.Fatal(err)
	}
	got = s.ApplyRules(Facts{Event: EventPush, Branch: "feature/x"})
	if len(got) != 4 || got[3].Phase != PhaseTest || got[3].Job != "" || s.Test != nil {
		t.Fatalf("no job left: skipped %v, test %+v", got, s.Test)
	}
	main, _ := Parse(FileName, []byte(src), "app")
	if got := main.ApplyRules(Facts{Event: EventPush, Branch: "main"}); len(got) != 0 || len(main.Test.Jobs) != 3 {
		t.Fatalf("main skipped %v", got)
	}
	if _, err := Parse(FileName, []byte(strings.Replace(src, "branches: [main]", "events: [pull]", 1)), "app"); err == nil || !strings.Contains(err.Error(), `unknown event "pull"`) {
		t.Errorf("a job's rule is checked: %v", err)
	}
}

// TestExtends: a job takes its templates beneath its own keys (maps
// merged, lists replaced), templates extend templates, and what lint and
// the policy see is the merged job; unknown templates and cycles are
// problems at the name.
func TestExtends(t *testing.T) {
	src := `version: 1
templates:
  go:
    pool: go
    env: {GOFLAGS: -mod=readonly, CGO_ENABLED: "0"}
    cache: {key: [go.sum], paths: [.cache/go-build]}
  race:
    extends: go
    env: {CGO_ENABLED: "1"}
    commands: [go test -race ./...]
test:
  jobs:
    unit:
      extends: go
      commands: [go test ./...]
    race:
      extends: [race]
      env: {GORACE: halt_on_error=1}
`
	s, err := Parse(FileName, []byte(src), "app")
	if err != nil {
		t.Fatal(err)
	}
	unit, race := s.Test.Jobs["unit"], s.Test.Jobs["race"]
	if unit.Pool != "go" || unit.Cache == nil || unit.Env["GOFLAGS"] != "-mod=readonly" || !slices.Equal(unit.Commands, []string{"go test ./..."}) {
		t.Errorf("unit %+v", unit)
	}
	want := map[string]string{"GOFLAGS": "-mod=readonly", "CGO_ENABLED": "1", "GORACE": "halt_on_error=1"}
	if race.Pool != "go" || !maps.Equal(race.Env, want) || !slices.Equal(race.Commands, []string{"go test -race ./..."}) {
		t.Errorf("race %+v", race)
	}
	if len(s.Test.Jobs.Cells()) != 2 {
		t.Errorf("templates ran as jobs: %v", s.Test.Jobs.Cells())
	}

	bad := []struct{ src, message string }{
		{"version: 1\ntest:\n  jobs:\n    unit: {extends: gopher, commands: [x]}\n", `extends "gopher", which is not a template`},
		{"version: 1\ntemplates:\n  a: {extends: b}\n  b: {extends: a}\ntest:\n  jobs:\n    unit: {extends: a, commands: [x]}\n", "cycle: a → b → a"},
		{"version: 1\ntemplates:\n  go: {pool: go}\ntest:\n  jobs:\n    unit: {extends: go}\n", "no commands"},
		{"version: 1\ntemplates:\n  go: {pol: go}\ntest:\n  jobs:\n    unit: {extends: go, commands: [x]}\n", `unknown key "pol"`},
	}
	for _, b := range bad {
		if _, err := Parse(FileName, []byte(b.src), "app"); err == nil || !strings.Contains(err.Error(), b.message) {
			t.Errorf("%q: %v, want %q", b.src, err, b.message)
		}
	}
}

// TestBuildJobsParse: build takes jobs as test does — checked the same
// way, their rules and templates applied — and refuses artifacts of its
// own beside them.
func TestBuildJobsParse(t *testing.T) {
	src := `version: 1
templates:
  go: {pool: go}
build:
  jobs:
    compile: {extends: go, commands: [make], artifacts: [dist]}
    docs: {commands: [make docs], when: {branches: [main]}}
test: {commands: [make test]}
`
	s, err := Parse(FileName, []byte(src), "app")
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Build.Jobs["compile"]; c.Pool != "go" || !slices.Equal(c.Artifacts, []string{"dist"}) {
		t.Fatalf("compile %+v", c)
	}
	skipped := s.ApplyRules(Facts{Event: EventPush, Branch: "feature/x"})
	if len(skipped) != 1 || skipped[0].What() != "build job docs" || !slices.Equal(s.Build.Jobs.Names(), []string{"compile"}) {
		t.Fatalf("skipped %v, jobs %v", skipped, s.Build.Jobs.Names())
	}
	if refs := s.Pools(); len(refs) != 1 || refs[0].Key != "build.jobs.compile.pool" {
		t.Errorf("pools %v", refs)
	}
	for bad, message := range map[string]string{
		"version: 1\nbuild:\n  commands: [make]\n  jobs: {a: {commands: [x]}}\n":                         "build has both commands and jobs",
		"version: 1\nbuild:\n  artifacts: [bin/app]\n  jobs: {a: {commands: [x]}}\nbake: {image: r/a}\n": "with jobs, artifacts belong to a job",
		"version: 1\nbuild:\n  jobs: {a: {commands: [x], needs: [b]}}\n":                                 `job a needs "b", which is not a job of build`,
	} {
		if _, err := Parse(FileName, []byte(bad), "app"); err == nil || !strings.Contains(err.Error(), message) {
			t.Errorf("%q: %v, want %q", bad, err, message)
		}
	}
}

// TestJobServicesNeedAPool: a job's services start beside its pod, so a
// job without a pool (its own or build's) is refused at its line.
func TestJobServicesNeedAPool(t *testing.T) {
	src := "version: 1\ntest:\n  jobs:\n    unit:\n      commands: [make test]\n      services: [{name: db, image: 127.0.0.1:5000/pg, ports: [5432]}]\n"
	_, err := Parse(FileName, []byte(src), "app")
	if p := problemAt(t, err, "job unit has services and no pool", 6, 17); !strings.Contains(p.Hint, "pool") {
		t.Errorf("hint %q", p.Hint)
	}
	if _, err := Parse(FileName, []byte(strings.Replace(src, "commands: [make test]", "commands: [make test]\n      pool: go", 1)), "app"); err != nil {
		t.Errorf("with a pool: %v", err)
	}
	if _, err := Parse(FileName, []byte(strings.Replace(src, "name: db", "name: DB", 1)), "app"); err == nil || !strings.Contains(err.Error(), `bad service name "DB"`) {
		t.Errorf("a bad name: %v", err)
	}
}
