package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/webhooks"
)

// captured records the request a door would start.
type captured struct{ req contract.Request }

func (c *captured) Dispatch(_ context.Context, _ string, req contract.Request) (string, bool, error) {
	c.req = req
	return "dispatch/x", false, nil
}

func (c *captured) Start(_ context.Context, req contract.Request) (runs.Started, error) {
	c.req = req
	return runs.Started{Ref: runs.Ref{WorkflowID: "pipeline/x", RunID: "r"}, Action: "started"}, nil
}

const doorsConfig = `
repositories:
  - {name: acme/hello, provider: github, clone_url: %q, webhook_secret: {file: %q}}
api_tokens:
  - {name: dave-cli, user: dave, token: {file: %q}, roles: {payments: [developer]}}
approver_groups:
  release-managers: [rita, ravi]
projects:
  - name: payments
    repositories: [acme/hello]
    environments:
      test: {registries: [registry.acme]}
      production:
        branches: [main]
        namespaces: [pay-prod]
        contexts: [prod]
        registries: [registry.acme]
        approval: {required: 2, groups: [release-managers]}
    quota:
      test_environments: {count: 2, memory: 4Gi}
`

const goodSpec = `version: 1
on: {branches: [main]}
build: {commands: [make]}
bake: {image: registry.acme/hello}
environments:
  production: {namespace: pay-prod, context: prod}
production: {manifests: deploy}
`

// doors is one server configuration with its two doors for a run: the
// webhook's adapter and the HTTP API `sluice run` asks.
type doors struct {
	cfg        *config.Config
	configFile string
	repo       *config.Repository
	hook       captured
	api        captured
	cli        *globals
}

func newDoors(t *testing.T, dir string) *doors {
	t.Helper()
	secrets := t.TempDir()
	for name, v := range map[string]string{"hook": "a-webhook-secret-1234", "token": "dave-token-0123456789"} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(secrets, "sluice.yaml")
	body := fmt.Sprintf(doorsConfig, dir, filepath.Join(secrets, "hook"), filepath.Join(secrets, "token"))
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	d := &doors{cfg: cfg, configFile: file, repo: cfg.Repository("github", "acme/hello")}
	srv := httpapi.New(nil, nil, slog.New(slog.DiscardHandler))
	srv.Config, srv.Starter = cfg, &d.api
	t0 := cfg.APITokens[0]
	srv.Tokens = map[string]httpapi.Client{"dave-token-0123456789": {Name: t0.Name, User: t0.User, Roles: t0.Roles}}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	d.cli = &globals{serverURL: ts.URL, token: "dave-token-0123456789", output: "text", stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	return d
}

// webhook pushes commit of main through the webhook's adapter, as dave.
func (d *doors) webhook(t *testing.T, commit, message string) webhooks.Outcome {
	t.Helper()
	hooks := &webhooks.Pushes{Config: d.cfg, Dispatch: &d.hook}
	out, err := hooks.StartPush(context.Background(), d.repo, webhooks.Push{
		Provider: "github", Repo: "acme/hello", Branch: "main", Commit: commit,
		AuthorName: gitsrctest.AuthorName, AuthorEmail: gitsrctest.AuthorEmail, Pusher: "dave",
		Message: message, DeliveryID: "delivery-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lint checks the spec in dir with `sluice lint --config`.
func (d *doors) lint(dir string) error {
	g := &globals{output: "text", stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cmd := newLintCmd(g)
	cmd.SetArgs([]string{"--config", d.configFile, "--repo", "acme/hello", filepath.Join(dir, ".sluice.yml")})
	cmd.SetOut(g.stdout)
	cmd.SetErr(g.stderr)
	return cmd.Execute()
}

// TestWebhookAndCLIBuildOneRequest: one push asked for by a signed-off
// webhook (through the server's adapter) and by `sluice run` (through the
// server's API, as the token's user) becomes the same request — spec under
// the project's policy, repository, commit, author, pusher and their
// identities, message — because both doors use the one request builder.
// Only the delivery id and the event (push, manual) differ.
func TestWebhookAndCLIBuildOneRequest(t *testing.T) {
	ctx := context.Background()
	dir, _ := gitsrctest.Repo(t, "../../examples/hello", goodSpec)
	if err := os.WriteFile(filepath.Join(dir, "CHANGES"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := "add CHANGES\n\nA body the subject line summarises."
	commit := gitsrctest.Commit(t, dir, msg)
	d := newDoors(t, dir)

	if _, err := d.cli.requestRun(ctx, "acme/hello", "main", "", ""); err != nil {
		t.Fatal(err)
	}
	if out := d.webhook(t, commit, msg); out.Result != "accepted" {
		t.Fatalf("webhook: %+v", out)
	}
	hook, cli := d.hook.req, d.api.req
	if hook.Push.DeliveryID != "delivery-1" || !strings.HasPrefix(cli.Push.DeliveryID, "api-dave-cli-") {
		t.Errorf("deliveries: webhook %q, CLI %q", hook.Push.DeliveryID, cli.Push.DeliveryID)
	}
	if hook.Push.Event != "push" || cli.Push.Event != "manual" {
		t.Errorf("events: webhook %q, CLI %q", hook.Push.Event, cli.Push.Event)
	}
	hook.Push.DeliveryID, cli.Push.DeliveryID = "", ""
	hook.Push.Event, cli.Push.Event = "", ""
	if !reflect.DeepEqual(cli, hook) {
		t.Errorf("the doors built different requests for one push:\n cli     %+v %+v\n webhook %+v %+v", cli.Push, cli.Policy, hook.Push, hook.Policy)
	}
	if cli.Push.Commit != commit || cli.Push.Message != "add CHANGES" || !reflect.DeepEqual(cli.Push.PusherIDs, []string{"dave"}) {
		t.Errorf("request: commit %s, message %q, pusher %v", cli.Push.Commit, cli.Push.Message, cli.Push.PusherIDs)
	}
	// the spec has no approval: the policy's is the run's
	if a := cli.Spec.Approval; cli.Policy == nil || cli.Policy.Project != "payments" || a == nil || a.Required != 2 {
		t.Errorf("policy %+v, approval %+v", cli.Policy, a)
	}
}

// TestSpecBeyondPolicyRefusedAtEveryDoor: a spec asking for fewer
// approvals, another namespace, an unlisted context or registry is refused
// before anything starts — by the webhook (422), `sluice run` and `sluice
// lint --config` alike — naming the spec's line and the policy's field.
func TestSpecBeyondPolicyRefusedAtEveryDoor(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, from, to, field string
	}{
		{"fewer approvals", "production: {manifests: deploy}", "production: {manifests: deploy}\napproval: {approvers: {groups: [release-managers]}, required: 1}",
			"projects[payments].environments.production.approval.required"},
		{"another namespace", "{namespace: pay-prod,", "{namespace: kube-system,", "projects[payments].environments.production.namespaces"},
		{"an unlisted context", "context: prod}", "context: admin}", "projects[payments].environments.production.contexts"},
		{"another registry", "image: registry.acme/hello", "image: evil.example/hello", "projects[payments].environments.production.registries"},
		{"a test environment beyond its share", "  production: {namespace: pay-prod, context: prod}", "  production: {namespace: pay-prod, context: prod}\n  test: {quota: {memory: 3Gi}}",
			"projects[payments].quota.test_environments.memory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := strings.Replace(goodSpec, tc.from, tc.to, 1)
			dir, commit := gitsrctest.Repo(t, "../../examples/hello", spec)
			d := newDoors(t, dir)
			// the line the refusal must name: where the changed key is
			line := 0
			for i, l := range strings.Split(spec, "\n") {
				if strings.Contains(l, strings.Split(tc.to, "\n")[len(strings.Split(tc.to, "\n"))-1]) {
					line = i + 1
				}
			}
			want := fmt.Sprintf(".sluice.yml:%d:", line)

			out := d.webhook(t, commit, "beyond")
			if out.Result != "invalid" || out.Status != 422 || !strings.Contains(out.Detail, want) || !strings.Contains(out.Detail, tc.field) {
				t.Errorf("webhook: %d %s %q, want %s and %s", out.Status, out.Result, out.Detail, want, tc.field)
			}
			_, err := d.cli.requestRun(ctx, "acme/hello", "main", "", "")
			var ex exitError
			if !errors.As(err, &ex) || !strings.Contains(ex.msg, want) || !strings.Contains(ex.msg, tc.field) {
				t.Errorf("sluice run: %v, want %s and %s", err, want, tc.field)
			}
			err = d.lint(dir)
			if !errors.As(err, &ex) || !strings.Contains(ex.msg, "/.sluice.yml:"+strings.TrimPrefix(want, ".sluice.yml:")) || !strings.Contains(ex.msg, tc.field) {
				t.Errorf("sluice lint --config: %v, want %s and %s", err, want, tc.field)
			}
			if d.hook.req.Push.Commit != "" || d.api.req.Push.Commit != "" {
				t.Errorf("a door started a run: webhook %+v, API %+v", d.hook.req.Push, d.api.req.Push)
			}
		})
	}
}

// TestRunOfAnotherRepository: `sluice run` names a repository of the
// server; the server clones its own URL for it, never one the caller
// brings under a project's name.
func TestRunOfAnotherRepository(t *testing.T) {
	dir, _ := gitsrctest.Repo(t, "../../examples/hello", goodSpec)
	other, _ := gitsrctest.Repo(t, "../../examples/hello", goodSpec)
	d := newDoors(t, dir)
	_, err := d.cli.requestRun(context.Background(), other, "main", "", "acme/hello")
	if err == nil || !strings.Contains(err.Error(), "is not one this server serves") || d.api.req.Push.Commit != "" {
		t.Fatalf("got %v, started %+v", err, d.api.req.Push)
	}
}

const inputsSpec = `version: 1
inputs:
  target: {type: choice, options: [staging, production], default: staging}
  replicas: {type: number, required: true}
  dry_run: {type: boolean, default: "false"}
build: {commands: [make]}
`

// TestRunInputs: `sluice run --input` values reach the request checked
// against the spec's declarations, with the defaults of the rest; a value
// of the wrong type, an unknown input or a missing required one is
// refused by the server (422) naming it.
func TestRunInputs(t *testing.T) {
	ctx := context.Background()
	dir, _ := gitsrctest.Repo(t, "../../examples/hello", inputsSpec)
	d := newDoors(t, dir)
	run := func(flags ...string) error {
		given, err := parseInputs(flags)
		if err != nil {
			return err
		}
		_, err = d.cli.requestPipelineRun(ctx, httpapi.RunRequest{Repo: "acme/hello", Branch: "main", Inputs: given})
		return err
	}
	if err := run("replicas=3", "dry_run=TRUE"); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"target": "staging", "replicas": "3", "dry_run": "true"}; !reflect.DeepEqual(d.api.req.Push.Inputs, want) {
		t.Errorf("inputs %v, want %v", d.api.req.Push.Inputs, want)
	}
	for flags, want := range map[string]string{
		"replicas=three":             `input replicas: "three" is not a number`,
		"replicas=1,target=qa":       `input target: "qa" is not one of staging, production`,
		"":                           "input replicas is required: give it with --input replicas=VALUE",
		"replicas=1,colour=blue":     "input colour is not declared (the spec's inputs are dry_run, replicas, target)",
		"replicas=1,dry_run=perhaps": `input dry_run: "perhaps" is not true or false`,
	} {
		var args []string
		if flags != "" {
			args = strings.Split(flags, ",")
		}
		if err := run(args...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--input %s: %v, want %q", flags, err, want)
		}
	}
	if _, err := parseInputs([]string{"novalue"}); err == nil {
		t.Error("--input without =VALUE was taken")
	}
}
