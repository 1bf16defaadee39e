package activities

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/policy"
	"github.com/sluice-cd/sluice/secrets"
)

// TestHeartbeatsCarryFinishedCommands checks that the periodic heartbeat
// sent while a later command runs already lists the commands that finished,
// so a retry after a worker crash skips them.
func TestHeartbeatsCarryFinishedCommands(t *testing.T) {
	repo, commit := gitsrctest.Repo(t, "../examples/hello", "")
	logs, err := logstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := &Steps{Exec: &executor.Local{Root: filepath.Join(t.TempDir(), "ws")}, Logs: logs, HeartbeatEvery: 20 * time.Millisecond}

	var mu sync.Mutex
	var during []stepsProgress // every heartbeat Run asked for, before SDK throttling
	steps.record = func(ctx context.Context, details ...any) {
		mu.Lock()
		during = append(during, details[0].(stepsProgress))
		mu.Unlock()
		activity.RecordHeartbeat(ctx, details...)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(steps)
	_, err = env.ExecuteActivity(steps.Run, contract.StepsInput{
		RunID: "run-hb", Phase: "build", Source: contract.Source{CloneURL: repo, Commit: commit},
		Commands: []string{"true", "sleep 0.3"}, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// every heartbeat after the first command finished must list it
	seenFirst := false
	for _, p := range during {
		if len(p.Done) >= 1 {
			seenFirst = true
		} else if seenFirst {
			t.Fatalf("a heartbeat after the first command finished forgot it: %+v", during)
		}
	}
	if !seenFirst || len(during) < 5 {
		t.Fatalf("want periodic heartbeats listing the finished command, got %d: %+v", len(during), during)
	}
}

// TestStepsGetSecrets: a local build step reads the project's secret from
// its environment, and a file-type secret from the 0400 file its variable
// names (the command checks both), which is gone once the command ends;
// its log shows them redacted, as printed and as encoded; a phase the
// project does not give them to is refused.
func TestStepsGetSecrets(t *testing.T) {
	repo, commit := gitsrctest.Repo(t, "../examples/hello", "")
	logDir := t.TempDir()
	logs, err := logstore.New(logDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const value, key = "npm-secret-0123456789", "-----BEGIN KEY-----\nsigning-key-9876543210\n-----END KEY-----"
	reader := &secrets.Reader{
		Projects: []policy.Project{{Name: "payments", Secrets: []policy.Secret{
			{Name: "npm_token", Env: "NPM", Phases: []string{pipelines.PhaseBuild}},
			{Name: "signing_key", Env: "KEY", As: policy.SecretAsFile, Phases: []string{pipelines.PhaseBuild}},
		}}},
		LookupEnv: func(k string) (string, bool) {
			v, ok := map[string]string{"NPM": value, "KEY": key}[k]
			return v, ok
		},
	}
	secretDir := t.TempDir()
	steps := &Steps{Exec: &executor.Local{Root: filepath.Join(t.TempDir(), "ws"), SecretDir: secretDir}, Logs: logs, Secrets: reader}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(steps)
	in := contract.StepsInput{
		RunID: "run-secret", Phase: "build", Source: contract.Source{CloneURL: repo, Commit: commit},
		Commands: []string{`test "$NPM_TOKEN" = ` + value + ` && echo "token $NPM_TOKEN" && printf %s "$NPM_TOKEN" | base64`,
			`test "$(cat "$SIGNING_KEY")" = "` + key + `" && test "$(stat -c %a "$SIGNING_KEY")" = 400 && echo "key file $SIGNING_KEY" && cat "$SIGNING_KEY"`},
		Timeout: time.Minute,
		Secrets: &contract.Secrets{Project: "payments", Branch: "main", Phase: pipelines.PhaseBuild, Names: []string{"npm_token", "signing_key"}},
	}
	v, err := env.ExecuteActivity(steps.Run, in)
	if err != nil {
		t.Fatal(err)
	}
	var res contract.StepsResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(logDir, "run-secret.log"))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(value))
	if !strings.Contains(string(log), "token [redacted]") || strings.Contains(string(log), value) || strings.Contains(string(log), b64[:20]) {
		t.Fatalf("log:\n%s", log)
	}
	if strings.Contains(string(log), "signing-key-9876543210") || !strings.Contains(string(log), "key file "+secretDir) {
		t.Fatalf("log:\n%s", log)
	}
	if left, _ := os.ReadDir(secretDir); len(left) != 0 {
		t.Fatalf("secret files left after the command: %v", left)
	}
	if len(res.Steps) != 2 || res.Steps[0].ExitCode != 0 || res.Steps[1].ExitCode != 0 {
		t.Fatalf("steps %+v", res.Steps)
	}
	// the same secret for a phase the project does not give it to
	in.Phase, in.Secrets.Phase = "test", "test"
	if _, err := env.ExecuteActivity(steps.Run, in); err == nil || !strings.Contains(err.Error(), "secret npm_token is not given to the test phase") {
		t.Fatalf("a secret outside its phases: %v", err)
	}
}
