package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const good = `repositories:
  - name: acme/hello
    provider: github
    clone_url: http://127.0.0.1:3000/acme/hello.git
    webhook_secret: {env: HELLO_SECRET}
    branches: [main]
slack:
  bot_token: {env: SLACK_BOT_TOKEN}
  signing_secret: {file: %s}
  channel: "#releases"
  users: {carol@example.com: U0CAROL}
approver_groups:
  release-managers: [U0ALICE, U0BOB]
`

func TestParseLoadsSecretsFromEnvAndFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "signing")
	os.WriteFile(f, []byte("file-signing-secret\n"), 0o600)
	c, err := Parse("sluice.yml", []byte(strings.Replace(good, "%s", f, 1)), env(map[string]string{"HELLO_SECRET": "hook-secret", "SLACK_BOT_TOKEN": "xoxb-1-bot-token"}))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Repository("github", "ACME/hello")
	if r == nil || r.Secret() != "hook-secret" {
		t.Fatalf("repository %+v", r)
	}
	if c.Slack.SigningSecretValue() != "file-signing-secret" || c.Slack.BotTokenValue() != "xoxb-1-bot-token" || c.Slack.APIURL != "" {
		t.Fatal("slack secrets not loaded")
	}
	ids := c.AuthorIDs("carol@example.com", "carol")
	if strings.Join(ids, ",") != "U0CAROL,carol,carol@example.com" {
		t.Fatalf("author ids %v", ids)
	}
	if len(c.Secrets()) != 3 {
		t.Fatalf("secrets for redaction: %d", len(c.Secrets()))
	}
}

func TestShortSecretsAndTokensAreRefused(t *testing.T) {
	src := "repositories:\n  - {name: a/b, provider: github, clone_url: x, webhook_secret: {env: S}}\napi_tokens:\n  - {name: ci, token: {env: T}}\n"
	_, err := Parse("sluice.yml", []byte(src), env(map[string]string{"S": "short", "T": "also-short"}))
	if err == nil || !strings.Contains(err.Error(), "repositories[0].webhook_secret: the secret is shorter than 8") ||
		!strings.Contains(err.Error(), "api_tokens[0].token: shorter than 16") {
		t.Fatalf("short secrets accepted or badly reported: %v", err)
	}
	if strings.Contains(err.Error(), "short\"") || strings.Contains(err.Error(), "also-short") {
		t.Fatalf("the error shows a secret: %v", err)
	}
	c, err := Parse("sluice.yml", []byte(src), env(map[string]string{"S": "long-enough", "T": "0123456789abcdef0123"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens()["0123456789abcdef0123"].Name != "ci" || len(c.Secrets()) != 2 {
		t.Fatalf("tokens %v secrets %d", c.Tokens(), len(c.Secrets()))
	}
}

func TestParseErrorsNameTheKeyAndNeverTheSecret(t *testing.T) {
	cases := []struct {
		name, src string
		env       map[string]string
		want      string
	}{
		{"unknown key", "repositories: []\nslak: {}\n", nil, "field slak not found"},
		{"missing webhook secret", "repositories:\n  - {name: a/b, provider: github, clone_url: x, webhook_secret: {env: NOPE}}\n", nil, "repositories[0].webhook_secret: environment variable NOPE is not set"},
		{"secret not named", "repositories:\n  - {name: a/b, provider: gitlab, clone_url: x}\n", nil, "repositories[0].webhook_secret: required"},
		{"bad provider", "repositories:\n  - {name: a/b, provider: bitbucket, clone_url: x, webhook_secret: {env: S}}\n", map[string]string{"S": "sekrit-value-1"}, `provider: "bitbucket" is not one of`},
		{"empty signing secret", "slack: {bot_token: {env: T}, signing_secret: {env: EMPTY}, channel: c}\n", map[string]string{"T": "xoxb", "EMPTY": ""}, "slack.signing_secret: environment variable EMPTY is not set or empty"},
		{"no signing secret", "slack: {bot_token: {env: T}, channel: c}\n", map[string]string{"T": "xoxb"}, "slack.signing_secret: required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("sluice.yml", []byte(tc.src), env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			for _, v := range tc.env {
				if v != "" && strings.Contains(err.Error(), v) {
					t.Fatalf("secret value in error: %v", err)
				}
			}
		})
	}
}

func TestIncomingWebhookOnlyNeedsNoSigningSecret(t *testing.T) {
	c, err := Parse("sluice.yml", []byte("slack: {incoming_webhook: {env: HOOK}, channel: town-square}\n"), env(map[string]string{"HOOK": "http://127.0.0.1:8065/hooks/abc"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Slack.IncomingWebhookURL() == "" || c.Slack.BotTokenValue() != "" {
		t.Fatal("webhook mode not loaded")
	}
}

func TestPoolsAreReadAndChecked(t *testing.T) {
	src := `pools:
  - name: go
    image: 127.0.0.1:5000/sluice/go-builder:latest
    min_idle: 2
    lease_ttl: 30s
    limits: {cpu: "2", memory: 2Gi}
`
	c, err := Parse("sluice.yml", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Pool("go")
	if !ok || p.MinIdle != 2 || time.Duration(p.LeaseTTL) != 30*time.Second || p.Namespace != "sluice-builds" || p.MaxTotal != 8 {
		t.Fatalf("pool %+v", p)
	}
	if err := c.CheckPool("build.pool", "gpu"); err == nil || !strings.Contains(err.Error(), "pools: go") {
		t.Fatalf("unknown pool: %v", err)
	}
	for bad, want := range map[string]string{
		"pools: [{name: go}]": "image: required",
		"pools: [{name: go, image: x, requests: {cpu: 4}, limits: {cpu: 2}}]": "more than the limit",
		"pools: [{name: go, image: x, min_idle: 5, max_total: 2}]":            "min_idle <= max_total",
		"pools: [{name: Go_Pool, image: x}]":                                  "DNS label",
		"pools: [{name: go, image: x}, {name: go, image: y}]":                 "listed twice",
	} {
		if _, err := Parse("sluice.yml", []byte(bad), env(nil)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", bad, err, want)
		}
	}
}

// TestSameTokenTwiceRefused: two api_tokens entries with one value would
// leave the server unable to tell their clients (and users) apart; the
// server refuses to start, naming both entries and neither value.
func TestSameTokenTwiceRefused(t *testing.T) {
	src := "api_tokens:\n  - {name: alice, user: alice, token: {env: A}}\n  - {name: bob, user: bob, token: {env: B}}\n"
	same := "0123456789abcdef0123"
	_, err := Parse("sluice.yml", []byte(src), env(map[string]string{"A": same, "B": same}))
	if err == nil || !strings.Contains(err.Error(), "api_tokens[1].token: the same token as api_tokens[0]") || strings.Contains(err.Error(), same) {
		t.Fatalf("a token shared by two entries: %v", err)
	}
	if _, err := Parse("sluice.yml", []byte(src), env(map[string]string{"A": same, "B": same + "x"})); err != nil {
		t.Fatalf("two tokens: %v", err)
	}
}

// TestQuotasAreChecked: a limit below one is an error, not "nothing
// runs"; a cap needs projects to count.
func TestQuotasAreChecked(t *testing.T) {
	for body, want := range map[string]string{
		"projects:\n  - {name: shop, repositories: [acme/shop], quota: {runs: 0}}\n":  "quota.runs: 0: at least 1",
		"projects:\n  - {name: shop, repositories: [acme/shop]}\nquota: {runs: -1}\n": "quota.runs: -1: at least 1 (leave it out for no cap)",
		"quota: {runs: 4}\n": "quota: the cap counts the runs of projects",
		"projects:\n  - {name: '*', repositories: [acme/shop]}\n": "name: required, without spaces, slashes or *",
	} {
		_, err := Parse("sluice.yml", []byte(body), env(nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	if _, err := Parse("sluice.yml", []byte("projects:\n  - {name: shop, repositories: [acme/shop], quota: {runs: 2}}\nquota: {runs: 10}\n"), env(nil)); err != nil {
		t.Fatal(err)
	}
}

// TestPoolShareNamesAPool: a project's share of a pool names one of the
// configuration's pools, with at least one pod.
func TestPoolShareNamesAPool(t *testing.T) {
	body := "pools:\n  - {name: go, image: 127.0.0.1:5000/sluice/go-builder:latest, namespace: sluice-builds}\nprojects:\n  - {name: shop, repositories: [acme/shop], quota: {pool_pods: {go: 0, rust: 1}}}\n"
	_, err := Parse("sluice.yml", []byte(body), env(nil))
	for _, want := range []string{"projects[0].quota.pool_pods.go: 0: at least 1", `projects[0].quota.pool_pods: no pool "rust" in pools (go)`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v, want %q", err, want)
		}
	}
}
