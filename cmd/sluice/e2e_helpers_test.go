package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/devserver"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv"
)

// The end-to-end tests drive the real `sluice` binary against the Temporal
// server it embeds, with real Git repositories and real build commands.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// sluiceBin builds the binary once per test process.
func sluiceBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freePort is a port for a `sluice dev` of a test, from below the kernel's
// ephemeral range (see devserver.FreePort).
func freePort(t testing.TB) int {
	t.Helper()
	p, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// env is one Sluice installation: a data dir and the ports of its servers.
type env struct {
	t        testing.TB
	bin      string
	dataDir  string
	temporal int
	http     int
	// temporalHost is where the embedded Temporal listens (default 127.0.0.1).
	temporalHost string
	// token, when set, is the API token client commands use (a server with
	// api_tokens does not take the dev token).
	token string
	// extraEnv is given to every process the test starts (an object
	// store's access key).
	extraEnv []string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: end-to-end tests of the sluice binary run in make test")
	}
	dir := t.TempDir()
	// as root, build steps run as the step user, who must pass through the
	// data dir's parent (sluice makes the data dir itself 0711)
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, bin: sluiceBin(t), dataDir: dir, temporal: freePort(t), http: freePort(t)}
}

// stepHome is HOME of the build steps of every test's `sluice dev`: their Go
// build cache survives from one test (and one test run) to the next.
var stepHome = filepath.Join(os.TempDir(), "sluice-e2e-step-home")

func (e *env) temporalAddress() string {
	host := e.temporalHost
	if host == "" {
		host = "127.0.0.1"
	}
	return host + ":" + strconv.Itoa(e.temporal)
}

func (e *env) clientEnv() []string {
	out := append(os.Environ(),
		"SLUICE_TEMPORAL_ADDRESS="+e.temporalAddress(),
		"SLUICE_SERVER=http://127.0.0.1:"+strconv.Itoa(e.http),
		"SLUICE_TOKEN_FILE="+filepath.Join(e.dataDir, "api-token"),
	)
	if e.token != "" {
		out = append(out, "SLUICE_TOKEN="+e.token)
	}
	return append(out, e.extraEnv...)
}

// proc is a background sluice process.
type proc struct {
	cmd *exec.Cmd
	out *testenv.SyncBuffer
	// generation tells apart processes a test restarts.
	generation int
}

func (e *env) start(args ...string) *proc { return e.startWith(nil, args...) }

// startWith starts a sluice process with extra environment variables.
func (e *env) startWith(extraEnv []string, args ...string) *proc {
	e.t.Helper()
	var out testenv.SyncBuffer
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(e.clientEnv(), extraEnv...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: &out}
	e.t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	return p
}

// exited says whether the process has ended by itself (a zombie not yet
// reaped, or gone); kill reaps it.
func (p *proc) exited() bool {
	if p.cmd.ProcessState != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces, the state follows its ")"
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

func (p *proc) kill(sig syscall.Signal) {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	_, _ = p.cmd.Process.Wait()
}

// startDev runs `sluice dev` and waits until it accepts requests.
func (e *env) startDev(extra ...string) *proc {
	e.t.Helper()
	args := append([]string{"dev", "--data-dir", e.dataDir, "--step-home", stepHome, "--temporal-port", strconv.Itoa(e.temporal),
		"--http-port", strconv.Itoa(e.http), "--ui-port", "-1"}, extra...)
	p := e.start(args...)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.out.String(), "Sluice dev is running") {
			return p
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("sluice dev did not start:\n%s", p.out.String())
	return nil
}

// sluice runs a client command and returns its stdout, stderr and exit code.
func (e *env) sluice(args ...string) (string, string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.clientEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			e.t.Fatalf("sluice %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// json runs a client command with --output json and decodes stdout.
func (e *env) json(v any, args ...string) int {
	e.t.Helper()
	out, errOut, code := e.sluice(append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil && code == 0 {
		e.t.Fatalf("sluice %v: bad json %q (stderr %s)", args, out, errOut)
	}
	return code
}

type statusOut struct {
	RunID    string `json:"run_id"`
	State    string `json:"state"`
	Phase    string `json:"phase"`
	Commit   string `json:"commit"`
	Error    string `json:"error"`
	Approval *struct {
		Status   string `json:"status"`
		Refusals []struct {
			User   string `json:"user"`
			Reason string `json:"reason"`
		} `json:"refusals"`
	} `json:"approval"`
	Phases []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"phases"`
}

// waitState polls `status` until the run reaches state.
func (e *env) waitState(run, state string, timeout time.Duration) statusOut {
	e.t.Helper()
	return e.waitStateOr(run, state, "", timeout)
}

// waitStateOr is waitState that gives up at once when the run reaches
// the state fail (such as failed: a run that no later state follows).
func (e *env) waitStateOr(run, state, fail string, timeout time.Duration) statusOut {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var st statusOut
	for time.Now().Before(deadline) {
		st = statusOut{}
		if e.json(&st, "status", run) == 0 && st.State == state {
			return st
		}
		if fail != "" && st.State == fail {
			e.t.Fatalf("run %s is %s, not %s: %+v", run, fail, state, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("run %s did not reach %s within %s; last %+v", run, state, timeout, st)
	return st
}

// waitClosed polls `list` (Sluice's records) until the runs of these
// workflow ids have written their final record: a run's state is final
// (succeeded) while its last cleanup, such as the release of its
// workspace, is still in flight, and its final record follows that.
func (e *env) waitClosed(ids []string, timeout time.Duration) []contract.RunRecord {
	e.t.Helper()
	var open []string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var list []contract.RunRecord
		if e.json(&list, "list", "--limit", "1000") != 0 {
			continue
		}
		newest := map[string]contract.RunRecord{}
		for _, r := range list {
			if _, seen := newest[r.WorkflowID]; !seen { // newest first
				newest[r.WorkflowID] = r
			}
		}
		open = open[:0]
		for _, id := range ids {
			if r, ok := newest[id]; !ok || r.Finished.IsZero() {
				open = append(open, id)
			}
		}
		if len(open) == 0 {
			return list
		}
	}
	e.t.Fatalf("runs %v did not close within %s", open, timeout)
	return nil
}

// gitRepo makes a real repository from examples/hello with the given spec,
// committed by carol, and returns its path and the commit.
func gitRepo(t *testing.T, spec string) (string, string) {
	t.Helper()
	if spec == "" {
		spec = localSpec(t)
	}
	return gitsrctest.Repo(t, "../../examples/hello", spec)
}

// localSpec is the sample app's pipeline without the parts that need the
// local platform (its pool, bake and promote): these tests run without a
// cluster; pool_e2e_test.go runs the sample's own spec.
func localSpec(*testing.T) string {
	return `version: 1
name: hello
on:
  branches: [main, "release/*"]
build:
  commands:
    - CGO_ENABLED=0 go build -o hello .
  timeout: 10m
test:
  commands:
    - go test -count=1 ./...
  timeout: 10m
approval:
  approvers:
    users: [alice, bob]
  required: 1
  timeout: 72h
  reminder: 24h
  channel: "#releases"
`
}

// TestMain removes the binary sluiceBin built (a few hundred MB per test
// process) when the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
