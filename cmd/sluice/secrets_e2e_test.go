package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/runs"
)

// sampleSecret is the sample's pipeline secrets on the platform: two keys
// of a real Kubernetes Secret, defined for the build, integration and
// production phases of the project "demo", protected (main only); the
// second (api_key) is handed over as a file.
type sampleSecret struct {
	value, fileValue, ns string
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
	fmt.Fprintf(f, `repositories:
  - {name: %s, provider: github, clone_url: %q, webhook_secret: {env: SLUICE_TEST_HOOK}}
projects:
  - name: demo
    repositories: [%s]
    environments:
      production: {namespaces: [%s], branches: [main]}
    secrets:
      - {name: api_token, kubernetes: {namespace: %s, name: hello-api, key: token}, phases: [build, integration, production], protected: true}
      - {name: api_key, kubernetes: {namespace: %s, name: hello-api, key: key}, as: file, phases: [build, integration, production], protected: true}
`, sampleRepo, repo, sampleRepo, prod, s.ns, s.ns)
}

// newSampleSecret is a fresh value, for a Secret in a namespace of the
// test's own.
func (e *poolEnv) newSampleSecret() sampleSecret {
	now := time.Now().UnixNano()
	return sampleSecret{value: fmt.Sprintf("s3cr3t-%d-value", now), fileValue: fmt.Sprintf("k3y-f1le-%d", now), ns: e.ns + "-secrets"}
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
	for where, text := range map[string]string{"log": logs, "status": status, "record": history, "history": s.history(t, e, id)} {
		if strings.Contains(text, s.value) || strings.Contains(text, s.fileValue) {
			t.Errorf("a secret's value is in the run's %s", where)
		}
	}
	left, err := e.client.CoreV1().Secrets(prod).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=sluice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range left.Items {
		if strings.HasSuffix(sec.Name, "-secrets") {
			t.Errorf("the verify Job's Secret %s outlived it", sec.Name)
		}
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
