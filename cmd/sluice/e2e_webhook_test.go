package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/workflows"
)

// TestDevServesConfiguredWebhooks starts `sluice dev --config` and sends a
// signed GitHub push to it: the run starts for the pushed commit; an
// unsigned one is refused. A config with a missing secret refuses to start.
func TestDevServesConfiguredWebhooks(t *testing.T) {
	e := newEnv(t)
	repo, commit := gitRepo(t, "")
	cfg := filepath.Join(t.TempDir(), "sluice.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("repositories:\n  - {name: acme/hello, provider: github, clone_url: %q, webhook_secret: {env: HELLO_HOOK_SECRET}}\n", repo)), 0o600)

	// without the secret in the environment, dev refuses to start and says why
	bad := e.start("dev", "--config", cfg, "--data-dir", e.dataDir, "--temporal-port", strconv.Itoa(e.temporal), "--http-port", strconv.Itoa(e.http), "--ui-port", "-1")
	_ = bad.cmd.Wait()
	if bad.cmd.ProcessState.ExitCode() != 1 || !strings.Contains(bad.out.String(), "repositories[0].webhook_secret: environment variable HELLO_HOOK_SECRET is not set") {
		t.Fatalf("dev with a missing secret: exit %d\n%s", bad.cmd.ProcessState.ExitCode(), bad.out.String())
	}

	t.Setenv("HELLO_HOOK_SECRET", "e2e-hook-secret-value")
	e.startDev("--config", cfg)
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"deleted":false,"repository":{"full_name":"acme/hello"},"head_commit":{"id":%q,"message":"hello","author":{"name":"carol","email":"carol@example.com"}},"pusher":{"name":"carol"}}`, commit, commit))
	m := hmac.New(sha256.New, []byte("e2e-hook-secret-value"))
	m.Write(body)
	send := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(e.http)+"/hooks/github", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "e2e-1")
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(""); code != http.StatusUnauthorized {
		t.Fatalf("unsigned push: %d", code)
	}
	if code := send("sha256=" + hex.EncodeToString(m.Sum(nil))); code != http.StatusAccepted {
		t.Fatalf("signed push: %d", code)
	}
	st := e.waitState(workflows.WorkflowID("acme/hello", "main"), "awaiting_approval", 2*time.Minute)
	if st.Commit != commit {
		t.Fatalf("run of %s, want %s", st.Commit, commit)
	}
}
