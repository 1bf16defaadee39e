package pipelines

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

const full = `version: 1
name: shop
on:
  branches: [main, "release/*"]
concurrency: queue
environments:
  test:
    services:
      - name: postgres
        image: 127.0.0.1:5000/postgres:16
        ports: [5432]
        env: {POSTGRES_PASSWORD: test}
    quota: {cpu: "2", memory: 2Gi}
    ttl: 1h
  production:
    namespace: shop
    strategy: blue-green
build:
  pool: go
  image: 127.0.0.1:5000/sluice/go-builder:1.26
  commands: go build ./...
  cache: [/root/.cache/go-build]
  env: {CGO_ENABLED: 0}
  timeout: 5m
test:
  commands: [go test ./...]
bake:
  image: 127.0.0.1:5000/acme/shop
deploy:
  manifests: deploy/k8s
integration:
  image: 127.0.0.1:5000/acme/shop-it:1
  commands: [./it.sh]
promote: {}
approval:
  approvers:
    users: [alice]
    groups: [release-managers]
  required: 2
  timeout: 3d
  reminder: 12h
production:
  manifests: deploy/prod
  verify:
    commands: [curl -fsS http://shop/healthz]
`

func TestParseFullSpec(t *testing.T) {
	s, err := Parse(FileName, []byte(full), "repo")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", s.Name, "shop"},
		{"concurrency", s.Concurrency, Queue},
		{"single command string becomes a list", s.Build.Commands, []string{"go build ./..."}},
		{"number in env is a string", s.Build.Env["CGO_ENABLED"], "0"},
		{"build timeout", s.Build.Timeout.D(), 5 * time.Minute},
		{"test timeout default", s.Test.Timeout, DefaultTestTimeout},
		{"dockerfile default", s.Bake.Dockerfile, DefaultDockerfile},
		{"context default", s.Bake.Context, DefaultContext},
		{"deploy environment default", s.Deploy.Environment, "test"},
		{"empty promote gets default tag", s.Promote.Tag, DefaultAvailableTag},
		{"approval days", s.Approval.Timeout.D(), 72 * time.Hour},
		{"max reminders default", s.Approval.MaxReminders, DefaultMaxReminders},
		{"verify timeout default", s.Production.Verify.Timeout, DefaultVerifyTimeout},
		{"strategy", s.Environments.Production.Strategy, BlueGreen},
		{"service port", s.Environments.Test.Services[0].Ports[0], 5432},
		{"ttl", s.Environments.Test.TTL.D(), time.Hour},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !equal(c.got, c.want) {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func equal(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return strings.Join(as, "\x00") == strings.Join(bs, "\x00")
	}
	return a == b
}

func TestParseDefaultsName(t *testing.T) {
	s, err := Parse(FileName, []byte("version: 1\nbuild:\n  commands: [make]\n"), "acme-hello")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "acme-hello" || s.Concurrency != CancelPrevious || s.Build.Timeout != DefaultBuildTimeout {
		t.Fatalf("defaults not applied: %+v", s)
	}
	if s.Test != nil || s.Approval != nil {
		t.Fatal("omitted phases must stay nil")
	}
}

// TestParseProblems checks each kind of mistake is reported at the right
// line and column with a useful message and hint.
func TestParseProblems(t *testing.T) {
	cases := []struct {
		name, src     string
		line, col     int
		message, hint string
	}{
		{"missing version", "build:\n  commands: [make]\n", 1, 1, "missing version", "version: 1"},
		{"wrong version", "version: 2\nbuild: {commands: [make]}\n", 1, 10, "unsupported version 2", "version 1"},
		{"unknown key with suggestion", "version: 1\nbuild:\n  comands: [make]\n", 3, 3, `unknown key "comands"`, `did you mean "commands"?`},
		{"unknown top-level key", "version: 1\nbuidl:\n  commands: [make]\n", 2, 1, `unknown key "buidl"`, `did you mean "build"?`},
		{"wrong type", "version: 1\nbuild:\n  commands: {a: b}\n", 3, 13, "expected a list", ""},
		{"int expected", "version: 1\napproval:\n  approvers: {users: [a]}\n  required: many\n", 4, 13, "expected a whole number", ""},
		{"bad duration", "version: 1\nbuild:\n  commands: [make]\n  timeout: 10 minutes\n", 4, 12, `bad duration "10 minutes"`, "10m"},
		{"missing bake image", "version: 1\nbake:\n  context: .\n", 2, 1, "bake needs an image", "repository"},
		{"approval without approvers", "version: 1\napproval:\n  timeout: 1h\n  reminder: 10m\n", 2, 1, "approval without approvers", "approvers.users"},
		{"required above approvers", "version: 1\napproval:\n  approvers: {users: [a]}\n  required: 2\n", 4, 13, "required is 2 but only 1", ""},
		{"reminder after timeout", "version: 1\napproval:\n  approvers: {users: [a]}\n  timeout: 1h\n  reminder: 2h\n", 5, 13, "not shorter than timeout", ""},
		{"bad concurrency", "version: 1\nconcurrency: queued\nbuild: {commands: [make]}\n", 2, 14, `unknown value "queued"`, `did you mean "queue"?`},
		{"no phases", "version: 1\n", 1, 1, "no phases defined", "build:"},
		{"deploy without bake", "version: 1\ndeploy:\n  manifests: k8s\n", 2, 1, "deploy needs a bake phase", ""},
		{"path escapes repo", "version: 1\nbake:\n  image: r/app\n  context: ../other\n", 4, 12, "leaves the repository", ""},
		{"image with tag", "version: 1\nbake:\n  image: 127.0.0.1:5000/app:v1\n", 3, 10, "must not carry a tag", ""},
		{"empty command", "version: 1\nbuild:\n  commands: [make, \"\"]\n", 3, 20, "empty command", ""},
		{"bad env name", "version: 1\nbuild:\n  commands: [make]\n  env: {1X: a}\n", 4, 9, "bad environment variable name", ""},
		{"duplicate key", "version: 1\nbuild: {commands: [a]}\nbuild: {commands: [b]}\n", 3, 1, "key is written twice", ""},
		{"bad secret name", "version: 1\nbuild:\n  commands: [make]\n  secrets: [ok, 9lives]\n", 4, 17, "bad secret name \"9lives\"", ""},
		{"secret listed twice", "version: 1\ntest:\n  commands: [make]\n  secrets: [npm_token, NPM_TOKEN]\n", 4, 24, "secret NPM_TOKEN listed twice", ""},
		{"secret shadowed by env", "version: 1\nbuild:\n  commands: [make]\n  env: {NPM_TOKEN: x}\n  secrets: [npm_token]\n", 5, 13, "secret npm_token is delivered as NPM_TOKEN, which env sets too", ""},
		{"bad yaml", "version: 1\nbuild:\n\tcommands: [make]\n", 3, 1, "not valid YAML", "indentation"},
		{"empty file", "", 1, 1, "spec is empty", "version: 1"},
		{"top level list", "- a\n- b\n", 1, 1, "expected a mapping", ""},
		{"bad branch glob", "version: 1\non: {branches: [\"[\"]}\nbuild: {commands: [a]}\n", 2, 17, "bad branch pattern", ""},
		{"not a boolean", "version: 1\napproval:\n  approvers: {users: [a]}\n  keep-on-retry: sometimes\n", 4, 18, "expected true or false", ""},
		{"unknown event in on", "version: 1\non: {events: [push, schedule]}\nbuild: {commands: [a]}\n", 2, 21, `unknown event "schedule"`, "push, tag, merge-request"},
		{"unknown event in when", "version: 1\nbuild:\n  commands: [a]\n  when: {events: [pull]}\n", 4, 19, `unknown event "pull"`, "manual"},
		{"bad tag glob", "version: 1\non: {tags: [\"v[\"]}\nbuild: {commands: [a]}\n", 2, 13, "bad tag pattern", "v*"},
		{"path leaving the repository", "version: 1\ntest:\n  commands: [a]\n  when: {paths: [../lib/**]}\n", 4, 18, "bad path pattern", "relative to the repository root"},
		{"absolute path", "version: 1\non: {paths: [/src]}\nbuild: {commands: [a]}\n", 2, 14, "bad path pattern", ""},
		{"unknown key in when", "version: 1\nbuild:\n  commands: [a]\n  when: {branch: [main]}\n", 4, 10, `unknown key "branch"`, `did you mean "branches"?`},
		{"production without environment", "version: 1\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n", 3, 1, "production needs environments.production", ""},
		{"canary steps without canary", "version: 1\nenvironments: {production: {namespace: p}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  canary: {steps: [{weight: 10}]}\n", 6, 3, "production.canary needs strategy canary", "strategy: canary"},
		{"analysis condition", "version: 1\nenvironments: {production: {namespace: p}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  analysis:\n    metrics: [{name: errors, query: x, success: below 0.05}]\n", 7, 49, "success \"below 0.05\" is not an operator", "< 0.05"},
		{"analysis placeholder", "version: 1\nenvironments: {production: {namespace: p}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  analysis:\n    metrics: [{name: errors, query: 'x{pod=\"{{pod}}\"}', success: < 1}]\n", 7, 37, "unknown placeholder {{pod}}", "{{pods}}"},
		{"analysis limit", "version: 1\nenvironments: {production: {namespace: p}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  analysis:\n    count: 3\n    failure-limit: 3\n    metrics: [{name: errors, query: x, success: < 1}]\n", 8, 20, "failure-limit 3 is out of range", "0 to count-1 (2)"},
		{"analysis longer than the phase", "version: 1\nenvironments: {production: {namespace: p}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  timeout: 1m\n  analysis:\n    interval: 1m\n    metrics: [{name: errors, query: x, success: < 1}]\n", 6, 12, "not longer than the analysis (6m)", "raise production.timeout"},
		{"min-samples without samples", "version: 1\nenvironments: {production: {namespace: p}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  analysis:\n    metrics: [{name: errors, query: x, success: < 1, min-samples: 5}]\n", 7, 67, "min-samples needs a samples query", ""},
		{"canary without steps", "version: 1\nenvironments: {production: {namespace: p, strategy: canary}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n", 4, 1, "strategy canary needs steps", "production.canary.steps"},
		{"canary weights fall", "version: 1\nenvironments: {production: {namespace: p, strategy: canary}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  canary:\n    steps: [{weight: 50}, {weight: 25}]\n", 7, 36, "canary weight 25 does not rise", "above the one before (50)"},
		{"canary weight 100", "version: 1\nenvironments: {production: {namespace: p, strategy: canary}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  canary:\n    steps: [{weight: 100}]\n", 7, 22, "canary weight 100 is out of range", "promoted"},
		{"canary analysis without metrics", "version: 1\nenvironments: {production: {namespace: p, strategy: canary}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  canary:\n    steps: [{weight: 10, analysis: true}]\n", 7, 36, "needs production.analysis", "define production.analysis"},
		{"canary approve without approval", "version: 1\nenvironments: {production: {namespace: p, strategy: canary}}\nbake: {image: r/a}\nproduction:\n  manifests: k8s\n  canary:\n    steps: [{weight: 10, approve: true}]\n", 7, 35, "needs an approval phase", ""},
		{"staging canary", "version: 1\nenvironments: {staging: {namespace: s, strategy: canary}}\nbuild: {commands: [a]}\n", 2, 50, `unknown value "canary"`, ""},
		{"bad service", "version: 1\nenvironments:\n  test:\n    services: [{name: Postgres}]\nbuild: {commands: [a]}\n", 4, 23, `bad service name "Postgres"`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("app/.sluice.yml", []byte(tc.src), "app")
			p := problemAt(t, err, tc.message, tc.line, tc.col)
			if !strings.Contains(p.Hint, tc.hint) {
				t.Errorf("hint %q does not mention %q", p.Hint, tc.hint)
			}
			if p.File != "app/.sluice.yml" {
				t.Errorf("file %q", p.File)
			}
		})
	}
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	src := "version: 3\nbuild:\n  comands: [make]\n  timeout: soon\napproval:\n  required: 0\n"
	_, err := Parse(FileName, []byte(src), "x")
	ps, _ := AsProblems(err)
	want := []string{"unsupported version", `unknown key "comands"`, "bad duration", "no commands", "approval without approvers", "required must be 1 or more"}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].Line < ps[i-1].Line {
			t.Errorf("problems not in file order: %v", ps)
		}
	}
	var p Problem
	if errors.As(err, &p) {
		t.Error("Problems must be matched as a list, not a single Problem")
	}
}

func TestSampleSpecIsValid(t *testing.T) {
	s, err := Load("../examples/hello/.sluice.yml", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if s.Build == nil || s.Test == nil || s.Approval == nil {
		t.Fatal("sample spec must define build, test and approval")
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for _, s := range []string{"90s", "10m", "1h30m", "72h", "3d"} {
		d, err := ParseDuration(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		b, _ := d.MarshalJSON()
		var back Duration
		if err := back.UnmarshalJSON(b); err != nil || back != d {
			t.Fatalf("%s: round trip gave %v (%v)", s, back, err)
		}
	}
}

// TestSchemaIsCurrent keeps the committed schema in step with the types:
// run `go test ./pipelines -run Schema -update` after changing them.
func TestSchemaIsCurrent(t *testing.T) {
	got, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "schema.json"
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Fatal("pipelines/schema.json is stale: run go test ./pipelines -run Schema -update")
	}
	for _, key := range []string{`"approvers"`, `"max-reminders"`, `"blue-green"`, `"additionalProperties": false`} {
		if !strings.Contains(string(got), key) {
			t.Errorf("schema lacks %s", key)
		}
	}
}

func TestMatchBranch(t *testing.T) {
	cases := []struct {
		patterns []string
		branch   string
		want     bool
	}{
		{nil, "anything", true},
		{[]string{"main"}, "main", true},
		{[]string{"main"}, "mainline", false},
		{[]string{"release/*"}, "release/1.2", true},
		{[]string{"release/*"}, "release/1.2/hotfix", false},
		{[]string{"main", "release/*"}, "feature/x", false},
	}
	for _, tc := range cases {
		if got := MatchBranch(tc.patterns, tc.branch); got != tc.want {
			t.Errorf("MatchBranch(%v, %q) = %v, want %v", tc.patterns, tc.branch, got, tc.want)
		}
	}
}

func TestBuildArtifactsAreChecked(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"version: 1\nbuild: {commands: [make], artifacts: [../etc/passwd]}\nbake: {image: r/a}\n", "build.artifacts[0]"},
		{"version: 1\nbuild: {commands: [make], artifacts: [bin/app]}\n", "no bake phase"},
	} {
		if _, err := Parse(".sluice.yml", []byte(tc.src), "app"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
	if _, err := Parse(".sluice.yml", []byte("version: 1\nbuild: {commands: [make], artifacts: [bin/app]}\nbake: {image: r/a}\n"), "app"); err != nil {
		t.Errorf("valid artifacts refused: %v", err)
	}
}

// TestBooleanKeys: a boolean key (approval.keep-on-retry) is read as the
// boolean it is written as.
func TestBooleanKeys(t *testing.T) {
	for src, want := range map[string]bool{"true": true, "false": false} {
		s, err := Parse(FileName, []byte("version: 1\napproval:\n  approvers: {users: [a]}\n  keep-on-retry: "+src+"\n"), "app")
		if err != nil || s.Approval.KeepOnRetry != want {
			t.Errorf("keep-on-retry: %s = %+v %v", src, s, err)
		}
	}
}

// problemAt is the problem of err whose message contains message, which
// must be reported at line:col.
func problemAt(t *testing.T, err error, message string, line, col int) Problem {
	t.Helper()
	ps, ok := AsProblems(err)
	if !ok {
		t.Fatalf("want Problems, got %v", err)
	}
	for _, p := range ps {
		if strings.Contains(p.Message, message) {
			if p.Line != line || p.Column != col {
				t.Errorf("%q reported at %d:%d, want %d:%d", p.Message, p.Line, p.Column, line, col)
			}
			return p
		}
	}
	t.Fatalf("no problem containing %q in:\n%v", message, err)
	return Problem{}
}
