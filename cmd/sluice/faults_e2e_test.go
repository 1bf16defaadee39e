package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/testenv/pgtest"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/testenv/s3test"
	"github.com/sluice-cd/sluice/workflows"
)

// The fault harness: pipelines pushed through signed webhooks to Sluice on
// a Temporal server that keeps its state in PostgreSQL, run by two
// `sluice worker` processes while the harness kill -9s a random worker at
// random moments (and starts it again) and once kills and restarts the
// Temporal server. Afterwards it audits the world at its sources: every
// run succeeded, each posted one approval message (the chat server's
// count) and set one final commit status (the status server's count), and
// nothing is left behind (workspaces, step processes).
//
// `make test` runs a short version; `make faults` sets SLUICE_FAULT_RUNS
// and SLUICE_FAULT_KILLS for a long one.

const faultMarker = "sluice-fault-step"

func faultSpec(name string) string {
	return fmt.Sprintf(`version: 1
name: %s
build:
  commands:
    - ": %s; sleep 2; echo built > built.txt"
test:
  commands:
    - test -f built.txt
approval:
  approvers:
    users: [alice]
  required: 1
  timeout: 2h
  reminder: 1h
  channel: "#releases"
`, name, faultMarker)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// sources plays Slack and GitHub's status API: it keeps what they would
// keep (messages with their metadata, statuses), answers the reads Sluice
// makes on a retry, and counts side effects where they land. The first
// approval message and the first final status of each commit are held in
// flight for a while after they were recorded, and announced on inFlight
// with the worker that sent them (each worker has its own API tokens): the
// harness kills that worker then, so the activity dies after its side
// effect and before Temporal hears of it, the window exactly-once is about.
type sources struct {
	mu sync.Mutex
	// approvals[commit] is the approval messages posted for it
	approvals map[string]int
	// finals[commit] is the final (not pending) statuses set on it
	finals   map[string]int
	messages []map[string]any
	// requests are the Slack API's requests, their forms encoded
	requests []string
	statuses map[string][]map[string]string
	held     map[string]bool
	inFlight chan effect
}

// effect is a side effect held in flight, and the token of the worker
// that made it.
type effect struct{ what, worker string }

func newSources() *sources {
	return &sources{approvals: map[string]int{}, finals: map[string]int{}, statuses: map[string][]map[string]string{},
		held: map[string]bool{}, inFlight: make(chan effect, 64)}
}

func (s *sources) get(m map[string]int, k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m[k]
}

// hold keeps the caller's response back for the first side effect of its
// kind on a commit, after announcing it; the request's effect is recorded.
func (s *sources) hold(what, worker string) {
	s.mu.Lock()
	first := !s.held[what]
	s.held[what] = true
	s.mu.Unlock()
	if first {
		s.inFlight <- effect{what, worker}
		time.Sleep(2 * time.Second)
	}
}

func (s *sources) slackServer(commits []string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.requests = append(s.requests, r.Form.Encode())
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch path.Base(r.URL.Path) {
		case "conversations.list":
			fmt.Fprint(w, `{"ok":true,"channels":[{"id":"C0RELEASES","name":"releases"}],"response_metadata":{"next_cursor":""}}`)
		case "conversations.history":
			s.mu.Lock()
			b, _ := json.Marshal(map[string]any{"ok": true, "messages": s.messages})
			s.mu.Unlock()
			w.Write(b)
		case "chat.postMessage":
			ts := fmt.Sprintf("%d.000100", time.Now().UnixNano())
			var meta map[string]any
			_ = json.Unmarshal([]byte(r.Form.Get("metadata")), &meta)
			s.mu.Lock()
			s.messages = append([]map[string]any{{"type": "message", "ts": ts, "text": r.Form.Get("text"), "metadata": meta}}, s.messages...)
			approval := ""
			if strings.Contains(r.Form.Get("blocks"), "sluice_approve") {
				for _, c := range commits {
					if strings.Contains(r.Form.Get("blocks"), c[:12]) {
						s.approvals[c]++
						approval = c
					}
				}
			}
			s.mu.Unlock()
			if approval != "" {
				s.hold("approval message of "+approval[:12], r.Form.Get("token")+r.Header.Get("Authorization"))
			}
			fmt.Fprintf(w, `{"ok":true,"channel":"C0RELEASES","ts":%q}`, ts)
		default:
			fmt.Fprint(w, `{"ok":true}`)
		}
	}))
}

// statusServer speaks GitHub's commit status API.
func (s *sources) statusServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet { // .../commits/<sha>/statuses, newest first
			sha := path.Base(path.Dir(r.URL.Path))
			s.mu.Lock()
			b, _ := json.Marshal(s.statuses[sha])
			s.mu.Unlock()
			w.Write(b)
			return
		}
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		sha := path.Base(r.URL.Path) // .../statuses/<sha>
		s.mu.Lock()
		s.statuses[sha] = append([]map[string]string{body}, s.statuses[sha]...)
		// the run's own status; promote's "sluice/available" is another
		final := body["state"] != "pending" && body["context"] == "sluice"
		if final {
			s.finals[sha]++
		}
		s.mu.Unlock()
		if final {
			s.hold("final status of "+sha[:12], r.Header.Get("Authorization"))
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":1}`))
	}))
}

func hookSecret(i int) string { return fmt.Sprintf("fault-hook-secret-%02d", i) }

func TestFaultHarness(t *testing.T) {
	runs := envInt("SLUICE_FAULT_RUNS", 4)
	e := newEnv(t)
	apps := make([]faultApp, runs)
	for i := range apps {
		apps[i].name = fmt.Sprintf("app-%02d", i)
		apps[i].repo, apps[i].commit = gitRepo(t, faultSpec(apps[i].name))
	}
	h := runFaults(t, e, faultSetup{apps: apps, kills: envInt("SLUICE_FAULT_KILLS", 4)})
	h.audit(t)
}

// faultApp is one repository of the harness: its own pipeline, started by
// one push.
type faultApp struct{ name, repo, commit string }

// faultSetup is what a harness runs: the apps, how many random kills, and
// what the workers need beside the repositories and the chat.
type faultSetup struct {
	apps  []faultApp
	kills int
	// config is added to the harness's configuration (pools).
	config string
	// workerArgs are added to every worker's arguments; workerEnv to its
	// environment (crash points).
	workerArgs, workerEnv []string
	// wait bounds each run's way to its approval and to its end.
	wait time.Duration
	// shareNothing runs two servers and two worker machines, each with a
	// data dir of its own and nothing on a shared disk: records in
	// PostgreSQL, logs in an S3-compatible store, the keys made once and
	// given to each (as a Kubernetes Secret would). Pushes and approvals
	// go to either server; each push is delivered to both.
	shareNothing bool
}

// faults is a finished harness: what it did and what the sources counted.
type faults struct {
	setup               faultSetup
	ids                 []string
	runIDs              []string // of each id's run
	counts              *sources
	killed, serverKills int
	secondServerKills   int // of the server without Temporal (shareNothing)
	crashed             int // workers that died at a crash point
	midEffect           []string
	dataDir             string
	env                 *env
	// workerDirs are the worker machines' data dirs (shareNothing).
	workerDirs []string
	// servers are the HTTP ports of the servers.
	servers []int
	// records are Sluice's records of the runs once they closed.
	records []contract.RunRecord
}

// runFaults pushes every app, runs them to their approval and approves,
// while killing workers at random moments (kills of them), every worker
// that is making an approval message or final status while it is in
// flight, and once the Temporal server; workers that die (at a crash
// point) are started again. It returns once every run succeeded.
func runFaults(t *testing.T, e *env, fs faultSetup) *faults {
	if fs.wait == 0 {
		fs.wait = 5 * time.Minute
	}
	pg := pgtest.Start(t)
	var commits []string
	for _, a := range fs.apps {
		commits = append(commits, a.commit)
	}
	counts := newSources()
	slackSrv := counts.slackServer(commits)
	t.Cleanup(slackSrv.Close)
	ghSrv := counts.statusServer()
	t.Cleanup(ghSrv.Close)
	var cfg strings.Builder
	cfg.WriteString(fs.config)
	cfg.WriteString("repositories:\n")
	// each repository has its own webhook secret: the secret that verifies
	// a delivery says which repository sent it
	for i, a := range fs.apps {
		fmt.Fprintf(&cfg, "  - {name: acme/%s, provider: github, clone_url: %q, webhook_secret: {env: FAULT_HOOK_SECRET_%d}, api_url: %q, api_token: {env: FAULT_STATUS_TOKEN}}\n",
			a.name, a.repo, i, ghSrv.URL+"/api/v3/")
		t.Setenv(fmt.Sprintf("FAULT_HOOK_SECRET_%d", i), hookSecret(i))
	}
	fmt.Fprintf(&cfg, "slack:\n  bot_token: {env: FAULT_SLACK_TOKEN}\n  signing_secret: {env: FAULT_SLACK_SIGNING}\n  api_url: %q\n  channel: \"#releases\"\n", slackSrv.URL+"/api/")
	cfgFile := filepath.Join(t.TempDir(), "sluice.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAULT_STATUS_TOKEN", "status-server-token")
	t.Setenv("FAULT_SLACK_TOKEN", "xoxb-server-token")
	t.Setenv("FAULT_SLACK_SIGNING", "fault-slack-signing-secret")
	t.Setenv("SLUICE_TEMPORAL_DB_PASSWORD", pg.Password)

	// what servers and workers share without a disk
	var shared, keyArgs []string
	h := &faults{setup: fs, counts: counts, dataDir: e.dataDir, servers: []int{e.http}, env: e}
	if fs.shareNothing {
		keys := filepath.Join(t.TempDir(), "keys")
		t.Setenv("SLUICE_SIGNING_PASSWORD", "fault-signing-password")
		if _, errOut, code := e.sluice("keys", "init", keys); code != 0 {
			t.Fatalf("keys init: %s", errOut)
		}
		store := s3test.Start(t)
		e.extraEnv = append(e.extraEnv, store.Env()...)
		t.Setenv("SLUICE_RECORDS_DB_PASSWORD", pg.Password)
		shared = []string{"--records", pg.URL("postgres"), "--logs", store.Bucket(t, "sluice-logs"), "--decision-key", filepath.Join(keys, "decision-key")}
		keyArgs = []string{"--signing-key", filepath.Join(keys, "signing.key")}
		// two servers: the CLI's token must be one both take
		e.token = "fault-api-token-alice"
		t.Setenv("FAULT_API_TOKEN", e.token)
		cfg.WriteString("api_tokens:\n  - {name: harness, user: alice, token: {env: FAULT_API_TOKEN}}\n")
		if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	serverArgs := append([]string{"--config", cfgFile, "--worker=false", "--temporal-db", pg.URL("temporal")}, shared...)
	server := e.startDev(serverArgs...)
	var serverB *proc
	var serverBArgs []string
	if fs.shareNothing {
		port := freePort(t)
		serverBArgs = append([]string{"server", "--config", cfgFile, "--data-dir", filepath.Join(t.TempDir(), "server-b"), "--http-port", strconv.Itoa(port)}, shared...)
		serverB = e.start(serverBArgs...)
		poll.Until(t, "the second server", func() bool {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		h.servers = append(h.servers, port)
		root := t.TempDir()
		h.workerDirs = []string{filepath.Join(root, "machine-a"), filepath.Join(root, "machine-b")}
	}
	// worker i's arguments: on a machine of its own, or all on the one
	// data dir
	workerArgs := func(i int) []string {
		args := []string{"worker", "--config", cfgFile, "--data-dir", e.dataDir, "--step-home", stepHome}
		if fs.shareNothing {
			args = append([]string{"worker", "--config", cfgFile, "--data-dir", h.workerDirs[i]}, append(shared, keyArgs...)...)
		}
		return append(args, fs.workerArgs...)
	}
	var mu sync.Mutex
	// each worker has its own Slack and status tokens, so a held side
	// effect names the worker that made it
	generation := 0
	var workers []*proc
	startWorker := func(i int) *proc {
		generation++
		env := append([]string{fmt.Sprintf("FAULT_SLACK_TOKEN=xoxb-worker-%d", generation), fmt.Sprintf("FAULT_STATUS_TOKEN=status-worker-%d", generation)}, fs.workerEnv...)
		p := e.startWith(env, workerArgs(i)...)
		p.generation = generation
		return p
	}
	workerOf := func(auth string) int {
		for i, w := range workers {
			if strings.HasSuffix(auth, fmt.Sprintf("-worker-%d", w.generation)) {
				return i
			}
		}
		return -1
	}
	workers = []*proc{startWorker(0), startWorker(1)}

	for i, a := range fs.apps {
		// to either server; a second delivery, to the other, is known
		e.pushTo(h.servers[i%len(h.servers)], a.name, a.commit, hookSecret(i))
		if len(h.servers) > 1 {
			if code, body := e.pushAnswerTo(h.servers[(i+1)%2], a.name, a.commit, hookSecret(i)); code != http.StatusOK || !strings.Contains(body, "duplicate") {
				t.Fatalf("the push of %s delivered again to the other server: %d %s, want 200 duplicate", a.name, code, body)
			}
		}
	}

	// the faults: kill -9 a random worker at random moments and start a new
	// one; kill every worker while a side effect is in flight; halfway,
	// kill the Temporal server and start it again; start a worker that
	// died by itself (a crash point) again
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		dead := time.NewTicker(200 * time.Millisecond)
		defer dead.Stop()
		next := func() <-chan time.Time { return time.After(time.Duration(500+rand.IntN(2500)) * time.Millisecond) }
		random := next()
		for {
			if h.killed >= fs.kills {
				random = nil // enough at random; the in-flight kills go on
			}
			select {
			case <-stop:
				return
			case <-dead.C:
				mu.Lock()
				for i, w := range workers {
					if w.exited() {
						w.kill(syscall.SIGKILL) // reaps it
						workers[i] = startWorker(i)
						h.crashed++
					}
				}
				mu.Unlock()
			case eff := <-counts.inFlight:
				mu.Lock()
				if i := workerOf(eff.worker); i >= 0 {
					workers[i].kill(syscall.SIGKILL)
					workers[i] = startWorker(i)
				}
				// else a random kill got the worker first: it died all the
				// same after sending the effect and before its answer,
				// which the server still holds
				h.midEffect = append(h.midEffect, eff.what)
				mu.Unlock()
			case <-random:
				random = next()
				mu.Lock()
				i := rand.IntN(len(workers))
				workers[i].kill(syscall.SIGKILL)
				workers[i] = startWorker(i)
				h.killed++
				if h.killed == (fs.kills+1)/2 && h.serverKills == 0 {
					server.kill(syscall.SIGKILL)
					server = e.startDev(serverArgs...)
					h.serverKills++
					if serverB != nil {
						// the other server too: approvals through it are
						// retried until it answers again
						serverB.kill(syscall.SIGKILL)
						serverB = e.start(serverBArgs...)
						h.secondServerKills++
					}
				}
				mu.Unlock()
			}
		}
	}()

	h.ids = make([]string, len(fs.apps))
	for i, a := range fs.apps {
		h.ids[i] = workflows.WorkflowID("acme/"+a.name, "main")
		e.waitStateOr(h.ids[i], "awaiting_approval", "failed", fs.wait)
		// the server may be down for a moment (a killed one takes up to a
		// minute to start again on a loaded machine), and so may the
		// run's worker: approve until the run has left the approval, as a
		// user would
		poll.UntilWithin(t, fs.wait, "the approval of "+h.ids[i], func() bool {
			var st statusOut
			if e.json(&st, "status", h.ids[i]) != 0 {
				return false
			}
			if st.State != "awaiting_approval" {
				return true
			}
			if fs.shareNothing { // as the token's user, through either server
				e.sluice("approve", st.RunID, "--server", fmt.Sprintf("http://127.0.0.1:%d", h.servers[(i+1)%2]))
			} else {
				e.sluice("approve", st.RunID, "--as", "alice")
			}
			return false
		})
	}
	h.runIDs = make([]string, len(h.ids))
	for i, id := range h.ids {
		st := e.waitStateOr(id, "succeeded", "failed", fs.wait)
		h.runIDs[i] = st.RunID[strings.LastIndex(st.RunID, "@")+1:]
	}
	// the faults go on until the runs have closed: their last cleanup
	// (the workspace's release) follows their final state
	h.records = e.waitClosed(h.ids, fs.wait)
	close(stop)
	<-done
	return h
}

// audit checks what every harness must find: one approval message and one
// final status per run, the kills done, nothing left behind on this
// machine. It reports them as a table.
func (h *faults) audit(t *testing.T) {
	t.Helper()
	type row struct {
		run               string
		approvals, finals int
	}
	var table []row
	for i, a := range h.setup.apps {
		poll.Until(t, "the final status of "+a.name, func() bool { return h.counts.get(h.counts.finals, a.commit) > 0 })
		table = append(table, row{h.ids[i], h.counts.get(h.counts.approvals, a.commit), h.counts.get(h.counts.finals, a.commit)})
	}
	runs, kills := len(h.setup.apps), h.setup.kills
	var report strings.Builder
	fmt.Fprintf(&report, "fault harness: %d runs; %d worker kills at random moments, %d of the worker making a side effect while it was in flight, %d workers that died by themselves (crash points) started again, %d Temporal server kills (PostgreSQL)\n%-40s %9s %13s\n",
		runs, h.killed, len(h.midEffect), h.crashed, h.serverKills, "run", "approvals", "final status")
	for _, r := range table {
		fmt.Fprintf(&report, "%-40s %9d %13d\n", r.run, r.approvals, r.finals)
		if r.approvals != 1 || r.finals != 1 {
			t.Errorf("%s: %d approval messages and %d final statuses, want exactly 1 of each", r.run, r.approvals, r.finals)
		}
	}
	t.Log(report.String())
	if len(h.servers) > 1 {
		t.Logf("the second server was killed %d times", h.secondServerKills)
		if h.secondServerKills != 1 {
			t.Errorf("the second server was killed %d times, want 1", h.secondServerKills)
		}
	}
	if h.killed < kills || h.serverKills != 1 || len(h.midEffect) != 2*runs {
		t.Errorf("the harness killed %d workers at random, the server %d times and the workers during %d side effects, want %d, 1 and %d: the runs ended before the faults",
			h.killed, h.serverKills, len(h.midEffect), kills, 2*runs)
	}

	// one record per run, final, with its one approval: the records'
	// writes, retried across kills, neither lost nor doubled
	for i, id := range h.ids {
		var mine []contract.RunRecord
		for _, r := range h.records {
			if r.WorkflowID == id {
				mine = append(mine, r)
			}
		}
		if len(mine) != 1 || mine[0].RunID != h.runIDs[i] || mine[0].State != "succeeded" {
			t.Errorf("records of %s: %+v, want one, of run %s, succeeded", id, mine, h.runIDs[i])
		}
	}

	// with no shared disk, the other server reads each run's whole log,
	// written by whichever workers ran its phases, from the object store
	if len(h.servers) > 1 {
		for i, id := range h.ids {
			logs, errOut, code := h.env.sluice("logs", id+"@"+h.runIDs[i], "--server", fmt.Sprintf("http://127.0.0.1:%d", h.servers[1]))
			for _, want := range []string{"build | ", "production | ", "run finished: succeeded"} {
				if code != 0 || !strings.Contains(logs, want) {
					t.Errorf("the log of %s through the second server lacks %q (code %d, %s):\n%s", id, want, code, errOut, logs)
				}
			}
		}
	}

	// nothing left behind: no workspace, no record of a running step's
	// process group, no step process
	var left []string
	for _, dir := range append([]string{h.dataDir}, h.workerDirs...) {
		for _, pattern := range []string{"[^.]*", ".groups/*"} {
			m, _ := filepath.Glob(filepath.Join(dir, "workspaces", pattern))
			left = append(left, m...)
		}
	}
	if len(left) > 0 {
		t.Errorf("workspaces left behind: %v", left)
	}
	if left := processesWith(faultMarker); len(left) > 0 {
		t.Errorf("step processes left behind: %v", left)
	}
}

// processesWith lists the pids whose command line contains marker.
func processesWith(marker string) []string {
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(marker)) {
			pids = append(pids, filepath.Base(d))
		}
	}
	return pids
}

// push sends a signed GitHub push of commit on main for acme/<name>,
// which must be accepted.
func (e *env) push(name, commit, secret string) {
	e.t.Helper()
	if code, body := e.pushAnswer(name, commit, secret); code != http.StatusAccepted {
		e.t.Fatalf("push of acme/%s: status %d: %s", name, code, body)
	}
}

// pushAnswer sends a signed GitHub push of commit on main for acme/<name>
// and returns the server's answer.
func (e *env) pushAnswer(name, commit, secret string) (int, string) {
	e.t.Helper()
	return e.pushAnswerTo(e.http, name, commit, secret)
}

// pushTo is push to the server on port.
func (e *env) pushTo(port int, name, commit, secret string) {
	e.t.Helper()
	if code, body := e.pushAnswerTo(port, name, commit, secret); code != http.StatusAccepted {
		e.t.Fatalf("push of %s to :%d: %d %s", name, port, code, body)
	}
}

// pushAnswerTo is pushAnswer of the server on port.
func (e *env) pushAnswerTo(port int, name, commit, secret string) (int, string) {
	e.t.Helper()
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"deleted":false,"repository":{"full_name":"acme/%s"},"head_commit":{"id":%q,"message":"change","author":{"name":"carol","email":"carol@example.com"}},"pusher":{"name":"carol"}}`, commit, name, commit))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(port)+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "fault-"+url.PathEscape(name))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
