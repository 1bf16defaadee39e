package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/runs"
)

// sampleSecret is the sample's pipeline secrets on the platform: two keys
// of a real Kubernetes Secret, defined for the build, integration and
// production phases of the project "demo", protected (main only); the
// second (api_key) is handed over as a file.
type sampleSecret struct {
	value, fileValue, ns string
	// seen is what the run sent to Slack and to the commit status API
	seen *sources
}

// sampleRepo is the name the sample's repository has in the server's
// configuration, and in its project.
const sampleRepo = "acme/hello"

// newSampleSecret makes the Kubernetes Secret (in a namespace of the
// test's own) and adds the repository at repo, as sampleRepo, and the
// project that defines the pipeline secret to the pool configuration.
func (e *poolEnv) defineSampleSecret(s sampleSecret, prod, repo string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = e.client.CoreV1().Namespaces().Delete(context.Background(), s.ns, metav1.DeleteOptions{}) })
	if _, err := e.client.CoreV1().Secrets(s.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hello-api"},
		Data: map[string][]byte{"token": []byte(s.value), "key": []byte(s.fileValue)}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	e.t.Setenv("SLUICE_TEST_HOOK", "sample-webhook-secret-0123")
	// a Slack and a commit status API that keep what they are sent
	slack, statuses := s.seen.slackServer(nil), s.seen.statusServer()
	e.t.Cleanup(slack.Close)
	e.t.Cleanup(statuses.Close)
	e.t.Setenv("SAMPLE_SLACK_TOKEN", "xoxb-sample-token")
	e.t.Setenv("SAMPLE_SLACK_SIGNING", "sample-slack-signing-secret")
	e.t.Setenv("SAMPLE_STATUS_TOKEN", "sample-status-token")
	fmt.Fprintf(f, "slack:\n  bot_token: {env: SAMPLE_SLACK_TOKEN}\n  signing_secret: {env: SAMPLE_SLACK_SIGNING}\n  api_url: %q\n  channel: \"#releases\"\n", slack.URL+"/api/")
	fmt.Fprintf(f, `repositories:
  - {name: %s, provider: github, clone_url: %q, webhook_secret: {env: SLUICE_TEST_HOOK}, api_url: %q, api_token: {env: SAMPLE_STATUS_TOKEN}}
projects:
  - name: demo
    repositories: [%s]
    environments:
      production: {namespaces: [%s], branches: [main]}
    secrets:
      - {name: api_token, kubernetes: {namespace: %s, name: hello-api, key: token}, phases: [build, deploy, integration, production], protected: true}
      - {name: api_key, kubernetes: {namespace: %s, name: hello-api, key: key}, as: file, phases: [build, integration, production], protected: true}
`, sampleRepo, repo, statuses.URL+"/api/v3/", sampleRepo, prod, s.ns, s.ns)
}

// newSampleSecret is a fresh value, for a Secret in a namespace of the
// test's own.
func (e *poolEnv) newSampleSecret() sampleSecret {
	now := time.Now().UnixNano()
	return sampleSecret{value: fmt.Sprintf("s3cr3t-%d-value", now), fileValue: fmt.Sprintf("k3y-f1le-%d", now), ns: e.ns + "-secrets", seen: newSources()}
}

// spec adds the secrets to the sample's build (in a pool pod), integration
// Job and production verify Job: each checks the values by their SHA-256
// (the spec never holds them) — api_key's read from the file its variable
// names — and prints them, for the log to redact.
func (s sampleSecret) spec(t testing.TB, spec []byte) []byte {
	t.Helper()
	sum := sha256.Sum256([]byte(s.value))
	// single-quoted YAML: the command holds ": "
	fileSum := sha256.Sum256([]byte(s.fileValue))
	check := func(phase string) string {
		return `'test "$(printf %s "$API_TOKEN" | sha256sum | cut -c1-64)" = ` + hex.EncodeToString(sum[:]) + ` && echo "secret in ` + phase + `: $API_TOKEN"` +
			` && test -f "$API_KEY" && test "$(sha256sum < "$API_KEY" | cut -c1-64)" = ` + hex.EncodeToString(fileSum[:]) + ` && echo "file secret in ` + phase + `: $(cat "$API_KEY")"'`
	}
	for _, r := range []struct{ anchor, add string }{
		{"  pool: go            # a warm build pod of the server's \"go\" pool\n", "  secrets: [api_token, api_key]\n"},
		{"  manifests: deploy/k8s   # the container whose image is \"hello\" gets the baked digest\n", "  secrets: [api_token]\n"},
		{"    - hostname        # the pod that builds\n", "    - " + check("build") + "\n"},
		{"integration:          # a Job next to the deployment; it reaches the app through its Service\n", "  secrets: [api_token, api_key]\n"},
		{"  commands:         # the first connection may race kube-proxy's routing of the new Service: wait for it\n", "    - " + check("integration") + "\n"},
		{"  grace: 15s          # the old color stays up this long for instant failover\n", "  secrets: [api_token, api_key]\n"},
		{"  verify:             # a Job in the production namespace (image: integration's); HELLO_URL is the new color's preview\n    commands:         # like any smoke test, retry the first connection: kube-proxy follows a switch within a second or so\n",
			"      - " + check("production") + "\n"},
	} {
		if !bytes.Contains(spec, []byte(r.anchor)) {
			t.Fatalf("the sample's spec lacks %q", r.anchor)
		}
		spec = bytes.Replace(spec, []byte(r.anchor), []byte(r.anchor+r.add), 1)
	}
	return spec
}

// manifests has the sample's application read API_TOKEN from the Secret
// Sluice makes for it (sluice-secrets: the test environment's, then each
// production release's own), commits that and returns the commit. Without
// the Secret its pods could not start, and neither deploy nor a release
// would finish.
func (s sampleSecret) manifests(t testing.TB, repo string) string {
	t.Helper()
	file := filepath.Join(repo, "deploy", "k8s", "hello.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	anchor := "            - {name: REDIS_ADDR, value: \"redis:6379\"}   # the test environment's redis service\n"
	if !bytes.Contains(b, []byte(anchor)) {
		t.Fatalf("the sample's manifest lacks %q", anchor)
	}
	b = bytes.Replace(b, []byte(anchor), []byte(anchor+"            - {name: API_TOKEN, valueFrom: {secretKeyRef: {name: sluice-secrets, key: API_TOKEN}}}\n"), 1)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return gitsrctest.Commit(t, repo, "hello reads its API token")
}

// checkRun: the three phases read the value (their checks passed) and
// printed it into a log that shows it redacted; the value is in none of
// the run's history (its raw payloads and its JSON export), its log, its
// record, its status; the verify Job's Secret went with the Job.
func (s sampleSecret) checkRun(e *poolEnv, id, prod string) {
	t := e.t
	t.Helper()
	logs, _, _ := e.sluice("logs", id)
	for _, phase := range []string{"build", "integration", "production"} {
		for _, what := range []string{"secret", "file secret"} {
			if !strings.Contains(logs, phase+" | "+what+" in "+phase+": [redacted]") {
				t.Errorf("the %s phase did not print its %s redacted:\n%s", phase, what, grepLines(logs, "secret in"))
			}
		}
	}
	status, _, _ := e.sluice("status", id, "-o", "json")
	history, _, _ := e.sluice("history", id)
	s.seen.mu.Lock()
	slack, _ := json.Marshal(s.seen.requests)
	statuses, _ := json.Marshal(s.seen.statuses)
	s.seen.mu.Unlock()
	if !strings.Contains(string(slack), "sluice_approve") || !strings.Contains(string(statuses), `"state"`) {
		t.Errorf("the run sent Slack %d bytes and the status API %d: nothing to look for its secrets in", len(slack), len(statuses))
	}
	for where, text := range map[string]string{"log": logs, "status": status, "record": history, "history": s.history(t, e, id),
		"Slack messages": string(slack), "commit statuses": string(statuses)} {
		if strings.Contains(text, s.value) || strings.Contains(text, s.fileValue) {
			t.Errorf("a secret's value is in the run's %s", where)
		}
	}
	left, err := e.client.CoreV1().Secrets(prod).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=sluice"})
	if err != nil {
		t.Fatal(err)
	}
	releases := 0
	for _, sec := range left.Items {
		switch {
		case strings.HasPrefix(sec.Name, "sluice-release-"):
			// the application's, one per release, owned by its record
			if len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].Kind != "ConfigMap" || string(sec.Data["API_TOKEN"]) != s.value {
				t.Errorf("release Secret %s: owners %+v, keys %v", sec.Name, sec.OwnerReferences, slices.Collect(maps.Keys(sec.Data)))
			}
			releases++
		case strings.HasSuffix(sec.Name, "-secrets"):
			t.Errorf("the verify Job's Secret %s outlived it", sec.Name)
		}
	}
	if releases == 0 {
		t.Errorf("production has no release Secret")
	}
}

// history is the run's history as its raw payloads and as Temporal's JSON
// export.
func (s sampleSecret) history(t testing.TB, e *poolEnv, id string) string {
	t.Helper()
	ref, err := runs.ParseRef(id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: e.temporalAddress()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	it := c.GetWorkflowHistory(ctx, ref.WorkflowID, ref.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := proto.Marshal(ev)
		js, _ := protojson.Marshal(ev)
		out.Write(raw)
		out.Write(js)
		n++
	}
	if n < 20 {
		t.Fatalf("the run's history has %d events", n)
	}
	return out.String()
}

// refusedOnFeatureBranch: a push of a branch production does not protect,
// whose spec names the protected secret, is refused before it starts,
// saying which secret and why.
func (s sampleSecret) refusedOnFeatureBranch(e *poolEnv, repo string) { // repo: its directory
	t := e.t
	t.Helper()
	if out, err := exec.Command("git", "-C", repo, "branch", "feature/x").CombinedOutput(); err != nil {
		t.Fatalf("git: %v %s", err, out)
	}
	_, errOut, code := e.sluice("run", "--repo", sampleRepo, "--ref", "feature/x")
	if code == 0 || !strings.Contains(errOut, "build.secrets[0]") || !strings.Contains(errOut, "secret api_token is protected: only branches that may reach production (main) may use it, not feature/x") {
		t.Fatalf("a feature branch naming the protected secret: %d %s", code, errOut)
	}
}
