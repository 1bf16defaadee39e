package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/webhooks"
	"github.com/sluice-cd/sluice/worker"
	"github.com/sluice-cd/sluice/workflows"
)

const spec = "version: 1\non: {branches: [main]}\nbuild:\n  commands: [\"true\"]\napproval:\n  approvers: {users: [alice]}\n"

// stack is a real Sluice server: embedded Temporal, a worker, the HTTP
// server with the webhook receiver, and one Git repository per provider.
type stack struct {
	t       testing.TB
	c       client.Client
	url     string
	secrets map[string]string
	commits map[string]string
	// dirs are the repositories, by provider.
	dirs map[string]string
	log  *bytes.Buffer
	// cfg is the server's configuration, shared by its receiver.
	cfg *config.Config
}

var providerRepo = map[string]string{"github": "acme/gh", "gitlab": "acme/gl", "gitea": "acme/gt"}

// newStack builds the stack for a test or a benchmark.
func newStack(tb testing.TB) *stack {
	tb.Helper()
	s := &stack{t: tb, c: devservertest.Start(tb), secrets: map[string]string{}, commits: map[string]string{}, dirs: map[string]string{}, log: &bytes.Buffer{}}
	var cfgYAML strings.Builder
	cfgYAML.WriteString("repositories:\n")
	env := map[string]string{}
	for provider, name := range providerRepo {
		dir, commit := gitsrctest.Repo(tb, "../examples/hello", spec)
		s.commits[provider], s.dirs[provider] = commit, dir
		s.secrets[provider] = "s3cret-" + provider + "-0123456789"
		env["SECRET_"+strings.ToUpper(provider)] = s.secrets[provider]
		fmt.Fprintf(&cfgYAML, "  - {name: %s, provider: %s, clone_url: %q, webhook_secret: {env: SECRET_%s}}\n", name, provider, dir, strings.ToUpper(provider))
	}
	cfg, err := config.Parse("test.yml", []byte(cfgYAML.String()), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		tb.Fatal(err)
	}
	s.cfg = cfg
	rc := &runs.Client{Temporal: s.c}
	w, err := worker.New(s.c, worker.Config{DataDir: tb.TempDir(), Runs: rc})
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(w.Stop)
	logs, _ := logstore.New(tb.TempDir(), nil)
	log := slog.New(slog.NewTextHandler(s.log, nil))
	api := httpapi.New(rc, logs, log)
	(&webhooks.Receiver{Config: cfg, Start: &webhooks.Pushes{Config: cfg, Dispatch: rc}, Log: log, MaxBody: 64 << 10}).Register(api.Mux)
	srv := httptest.NewServer(api)
	tb.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func payload(t testing.TB, provider, commit string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + provider + "_push.json")
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("{{COMMIT}}"), []byte(commit))
	return bytes.ReplaceAll(b, []byte("{{REPO}}"), []byte(providerRepo[provider]))
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// signed returns the headers a provider sends for body.
func signed(provider, secret, delivery string, body []byte) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	switch provider {
	case "github":
		h.Set("X-GitHub-Event", "push")
		h.Set("X-GitHub-Delivery", delivery)
		h.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
	case "gitlab":
		h.Set("X-Gitlab-Event", "Push Hook")
		h.Set("Idempotency-Key", delivery)
		h.Set("X-Gitlab-Token", secret)
	case "gitea":
		h.Set("X-Gitea-Event", "push")
		h.Set("X-Gitea-Delivery", delivery)
		h.Set("X-Gitea-Signature", hmacHex(secret, body))
	}
	return h
}

func (s *stack) post(provider string, h http.Header, body []byte) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+"/hooks/"+provider, bytes.NewReader(body))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// workflows lists workflow executions matching a visibility query.
func (s *stack) count(query string) int {
	s.t.Helper()
	resp, err := s.c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(resp.Executions)
}

// waitRun waits for the branch's run and returns its commit.
func (s *stack) waitRun(provider string) string {
	s.t.Helper()
	rc := &runs.Client{Temporal: s.c}
	id := workflows.WorkflowID(providerRepo[provider], "main")
	var commit string
	poll.Until(s.t, "a run of "+id, func() bool {
		_, st, err := rc.Status(context.Background(), runs.Ref{WorkflowID: id})
		commit = st.Request.Push.Commit
		return err == nil && commit != ""
	})
	return commit
}

func TestSignedPushStartsOneRunPerProvider(t *testing.T) {
	s := newStack(t)
	for _, provider := range []string{"github", "gitlab", "gitea"} {
		t.Run(provider, func(t *testing.T) {
			body := payload(t, provider, s.commits[provider])
			code, resp := s.post(provider, signed(provider, s.secrets[provider], provider+"-d1", body), body)
			if code != http.StatusAccepted || !strings.Contains(resp, `"accepted"`) {
				t.Fatalf("status %d %s", code, resp)
			}
			if got := s.waitRun(provider); got != s.commits[provider] {
				t.Fatalf("run of commit %s, want %s", got, s.commits[provider])
			}
			id := workflows.WorkflowID(providerRepo[provider], "main")
			if n := s.count(fmt.Sprintf("WorkflowId = '%s'", id)); n != 1 {
				t.Fatalf("%d runs, want 1", n)
			}
		})
	}
}

// TestReplayedPushWithNewDeliveryIDsStartsOneRun re-sends a captured signed
// push with fresh delivery ids (the header is not signed): the commit has a
// run on its branch already, so no further run starts.
func TestReplayedPushWithNewDeliveryIDsStartsOneRun(t *testing.T) {
	s := newStack(t)
	body := payload(t, "github", s.commits["github"])
	if code, resp := s.post("github", signed("github", s.secrets["github"], "original", body), body); code != http.StatusAccepted {
		t.Fatalf("first delivery: %d %s", code, resp)
	}
	for i := range 5 {
		code, resp := s.post("github", signed("github", s.secrets["github"], fmt.Sprintf("forged-%d", i), body), body)
		if code != http.StatusOK || !strings.Contains(resp, "duplicate") {
			t.Fatalf("replay %d: %d %s", i, code, resp)
		}
	}
	s.waitRun("github")
	if err := s.c.GetWorkflow(context.Background(), workflows.DispatchWorkflowID("github", providerRepo["github"], "main", s.commits["github"]), "").Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if n := s.count("WorkflowType = 'Pipeline'"); n != 1 {
		t.Fatalf("%d pipeline runs, want 1", n)
	}
}

// TestUnstartableNamesAreRefusedAtOnce sends signed pushes whose branch or
// delivery id Temporal could not take: the provider gets a 400 with the
// reason, and nothing is recorded to be retried.
func TestUnstartableNamesAreRefusedAtOnce(t *testing.T) {
	s := newStack(t)
	good := payload(t, "github", s.commits["github"])
	cases := map[string]struct {
		body     []byte
		delivery string
		want     string
	}{
		"control character in branch": {bytes.Replace(good, []byte(`refs/heads/main`), []byte(`refs/heads/ma\u0007in`), 1), "d-ctl", "non-printable"},
		"over-long branch":            {bytes.Replace(good, []byte(`refs/heads/main`), []byte("refs/heads/"+strings.Repeat("b", 300)), 1), "d-long", "longer than"},
		"over-long delivery id":       {good, strings.Repeat("x", 500), "delivery id is longer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, resp := s.post("github", signed("github", s.secrets["github"], tc.delivery, tc.body), tc.body)
			if code != http.StatusBadRequest || !strings.Contains(resp, tc.want) {
				t.Fatalf("status %d %s, want 400 with %q", code, resp, tc.want)
			}
		})
	}
	if n := s.count("WorkflowType = 'Dispatch'"); n != 0 {
		t.Fatalf("%d dispatches recorded for unstartable pushes", n)
	}
}

// TestGitHubFormEncodedDelivery uses GitHub's application/x-www-form-urlencoded
// content type: the signed form's payload field holds the JSON.
func TestGitHubFormEncodedDelivery(t *testing.T) {
	s := newStack(t)
	form := []byte("payload=" + url.QueryEscape(string(payload(t, "github", s.commits["github"]))))
	h := signed("github", s.secrets["github"], "form-d1", form)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, resp := s.post("github", h, form); code != http.StatusAccepted {
		t.Fatalf("status %d %s", code, resp)
	}
	if got := s.waitRun("github"); got != s.commits["github"] {
		t.Fatalf("run of %s", got)
	}
}

func TestRedeliveredTenTimesAtOnceStartsOneRun(t *testing.T) {
	s := newStack(t)
	body := payload(t, "github", s.commits["github"])
	h := signed("github", s.secrets["github"], "same-delivery", body)
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = s.post("github", h, body)
		}()
	}
	wg.Wait()
	accepted := 0
	for _, c := range codes {
		switch c {
		case http.StatusAccepted:
			accepted++
		case http.StatusOK:
		default:
			t.Fatalf("unexpected status %d in %v", c, codes)
		}
	}
	if accepted != 1 {
		t.Fatalf("%d deliveries accepted, want 1: %v", accepted, codes)
	}
	s.waitRun("github")
	// Dispatch is what starts pipelines: once the one dispatch has finished,
	// a wrongly started second run would already be visible.
	if err := s.c.GetWorkflow(context.Background(), workflows.DispatchWorkflowID("github", providerRepo["github"], "main", s.commits["github"]), "").Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if n := s.count("WorkflowType = 'Pipeline'"); n != 1 {
		t.Fatalf("%d pipeline runs, want 1", n)
	}
	if n := s.count("WorkflowType = 'Dispatch'"); n != 1 {
		t.Fatalf("%d dispatches, want 1", n)
	}
}

// TestBadRequestsStartNothing sends each kind of bad request and checks its
// status and that no workflow of any kind was started.
func TestBadRequestsStartNothing(t *testing.T) {
	s := newStack(t)
	body := payload(t, "github", s.commits["github"])
	good := func() http.Header { return signed("github", s.secrets["github"], "d-bad", body) }
	flipped := bytes.Clone(body)
	flipped[len(flipped)/2] ^= 0x01
	sha1Only := good()
	sha1Only.Del("X-Hub-Signature-256")
	m := hmac.New(sha1.New, []byte(s.secrets["github"]))
	m.Write(body)
	sha1Only.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(m.Sum(nil)))
	forged := signed("github", "not-the-secret", "d-bad", body)
	missing := good()
	missing.Del("X-Hub-Signature-256")
	malformed := []byte(`{"ref": "refs/heads/main", "after": `)
	big := bytes.Repeat([]byte("x"), 65<<10)
	gitlabWrong := signed("gitlab", "wrong-token", "d-bad", body)

	cases := []struct {
		name     string
		provider string
		h        http.Header
		body     []byte
		status   int
		want     string
	}{
		{"forged signature", "github", forged, body, 401, "does not match"},
		{"missing signature", "github", missing, body, 401, "missing X-Hub-Signature-256"},
		{"sha1 only", "github", sha1Only, body, 401, "SHA-1"},
		{"body changed by one byte", "github", good(), flipped, 401, "does not match"},
		{"oversized body", "github", signed("github", s.secrets["github"], "d-big", big), big, 413, "larger than"},
		{"malformed json", "github", signed("github", s.secrets["github"], "d-mal", malformed), malformed, 400, "malformed"},
		{"gitlab wrong token", "gitlab", gitlabWrong, body, 401, "token does not match"},
		{"gitea unsigned", "gitea", http.Header{"X-Gitea-Event": {"push"}}, body, 401, "missing X-Gitea-Signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := s.post(tc.provider, tc.h, tc.body)
			if code != tc.status || !strings.Contains(resp, tc.want) {
				t.Fatalf("status %d %s, want %d %q", code, resp, tc.status, tc.want)
			}
		})
	}
	if n := s.count(""); n != 0 {
		t.Fatalf("%d workflows started by bad requests", n)
	}
	if strings.Contains(s.log.String(), s.secrets["github"]) {
		t.Fatal("a secret reached the log")
	}
}

func TestIgnoredEvents(t *testing.T) {
	s := newStack(t)
	commit := s.commits["github"]
	body := payload(t, "github", commit)
	other := bytes.ReplaceAll(body, []byte("refs/heads/main"), []byte("refs/heads/experiment"))
	deleted := bytes.ReplaceAll(bytes.ReplaceAll(body, []byte(`"deleted": false`), []byte(`"deleted": true`)), []byte(`"after": "`+commit), []byte(`"after": "0000000000000000000000000000000000000000`))
	unknown := bytes.ReplaceAll(body, []byte(`"full_name": "acme/gh"`), []byte(`"full_name": "acme/other"`))
	ping := signed("github", s.secrets["github"], "d-ping", body)
	ping.Set("X-GitHub-Event", "ping")
	for _, tc := range []struct {
		name   string
		h      http.Header
		body   []byte
		status int
		want   string
	}{
		{"branch not in on.branches", signed("github", s.secrets["github"], "d-o", other), other, 200, "not in on.branches"},
		{"branch deleted", signed("github", s.secrets["github"], "d-x", deleted), deleted, 200, "deleted"},
		{"unknown repository", signed("github", s.secrets["github"], "d-u", unknown), unknown, 404, "not configured"},
		{"ping", ping, body, 200, "ping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := s.post("github", tc.h, tc.body)
			if code != tc.status || !strings.Contains(resp, tc.want) {
				t.Fatalf("status %d %s", code, resp)
			}
		})
	}
	if n := s.count(""); n != 0 {
		t.Fatalf("%d workflows started by ignored events", n)
	}
}

// TestGitHubPublishedVector checks the signature code against the example
// in GitHub's "Validating webhook deliveries" documentation.
func TestGitHubPublishedVector(t *testing.T) {
	h := http.Header{"X-Hub-Signature-256": {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}}
	if err := webhooks.VerifyGitHub(h, []byte("Hello, World!"), "It's a Secret to Everybody"); err != nil {
		t.Fatalf("published vector refused: %v", err)
	}
	if err := webhooks.VerifyGitHub(h, []byte("Hello, World?"), "It's a Secret to Everybody"); err == nil {
		t.Fatal("changed payload accepted")
	}
}
