package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/pool/poolspec"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// fakeAPI stands in for httpapi.Server in these tests of the console's own
// logic (sessions, CSRF, paging, rendering); cmd/sluice's browser test runs
// the console against the real API.
type fakeAPI struct {
	decisions atomic.Int32
	logLines  int
	// hold keeps a followed log open until its reader leaves.
	hold bool
}

const (
	runID   = "pipeline/acme/pay:main@0193abcd-0000-7000-8000-000000000001"
	admin   = "admin-token"
	viewer  = "viewer-token"
	commit  = "c0ffee1234567890"
	project = "payments"
)

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var id httpapi.Identity
	switch tok {
	case admin:
		id = httpapi.Identity{Name: "alice-laptop", User: "alice", Roles: map[string][]string{project: {access.Approver}}}
	case viewer:
		id = httpapi.Identity{Name: "viewer", Roles: map[string][]string{project: {access.Viewer}}}
	default:
		http.Error(w, "missing or unknown API token", http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/api/v1/whoami":
		writeJSON(w, id)
	case r.URL.Path == "/api/v1/records" && r.URL.Query().Get("kind") == contract.RecordChaos:
		writeJSON(w, []contract.RunRecord{{Kind: contract.RecordChaos, WorkflowID: "chaos/old/1", Pipeline: "old", State: workflows.ChaosPassed, Environment: "hello"}})
	case r.URL.Path == "/api/v1/records":
		writeJSON(w, []contract.RunRecord{{Kind: contract.RecordPipeline, WorkflowID: "pipeline/acme/pay:main", RunID: "0193abcd-0000-7000-8000-000000000001",
			Pipeline: "pay", Project: project, Repository: "acme/pay", Branch: "main", Commit: commit, State: "running", Started: time.Now().Add(-time.Minute)}})
	case r.URL.Path == "/api/v1/status":
		st := workflows.RunState{State: workflows.StateAwaitingApproval, Phase: "approval", Started: time.Now().Add(-time.Minute),
			Request: workflows.Request{Push: contract.Push{Repo: "acme/pay", Branch: "main", Commit: commit}, Policy: &contract.Governance{Project: project}},
			Jobs:    []workflows.JobState{{Phase: "build", Name: "vet", Status: "succeeded", Summary: "vet ok", Started: time.Now().Add(-time.Minute), Finished: time.Now().Add(-40 * time.Second)}},
			Phases: []workflows.PhaseState{{Name: "build", Status: "succeeded", Started: time.Now().Add(-time.Minute), Finished: time.Now().Add(-30 * time.Second)},
				{Name: "approval", Status: "running", Started: time.Now().Add(-30 * time.Second)}},
			Approval: &workflows.ApprovalState{Status: workflows.ApprovalPending, Approvers: []string{"alice", "bob"}, Required: 1}}
		if r.URL.Query().Get("run") == analysedRun {
			// production's analysis found too little traffic: the
			// approvers are asked again
			v, n := 0.1, 200.0
			st.Phase, st.Phases[1] = "production", workflows.PhaseState{Name: "production", Status: "running", Started: time.Now().Add(-30 * time.Second)}
			st.Gates = []workflows.ApprovalState{{Status: workflows.ApprovalApproved, Approvals: []workflows.Decided{{Decision: workflows.Decision{User: "bob"}, At: time.Now().Add(-time.Minute)}}}}
			st.Approval.For = "inconclusive analysis: error-rate was inconclusive 3 of 3 times"
			st.Outputs.Analysis = &contract.AnalysisResult{Verdict: contract.AnalysisInconclusive, Reason: "error-rate was inconclusive 3 of 3 times", Taken: 3,
				Measurements: []contract.Measurement{{At: time.Now(), Metric: "error-rate", Value: &v, Samples: &n, Outcome: contract.AnalysisFailed, Reason: "not < 0.05"}}}
		}
		writeJSON(w, httpapi.StatusResponse{Ref: runs.Ref{WorkflowID: "pipeline/acme/pay:main", RunID: "0193abcd-0000-7000-8000-000000000001"}, State: st})
	case r.URL.Path == "/api/v1/decisions":
		if tok == viewer {
			http.Error(w, `token "viewer" has no role that may approve in project payments`, http.StatusForbidden)
			return
		}
		f.decisions.Add(1)
		writeJSON(w, httpapi.DecisionResponse{User: "alice"})
	case r.URL.Path == "/api/v1/chaos/chaos/pod-kill/1":
		t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		writeJSON(w, workflows.ChaosState{Experiment: "pod-kill", State: workflows.ChaosFailed,
			Timeline: []workflows.ChaosEvent{{At: t0.Add(time.Second), What: "fault 1 pod-kill: killed hello-1"}},
			Steady:   &contract.Observation{Requests: 50, P50: 3 * time.Millisecond, P99: 9 * time.Millisecond},
			Observation: &contract.Observation{Start: t0, End: t0.Add(20 * time.Second), Requests: 400, Failed: 12, P50: 4 * time.Millisecond, P99: 80 * time.Millisecond,
				Windows: []contract.ErrorWindow{{Start: t0.Add(2 * time.Second), End: t0.Add(3 * time.Second), Failed: 12, Requests: 20, Error: "503"}}},
			Notifications: []workflows.ReceivedAlert{{At: t0.Add(5 * time.Second), AlertNotification: contract.AlertNotification{Receiver: "oncall", Status: "firing",
				Alerts: []contract.Alert{{Name: "HelloInstanceDown", Status: "firing"}}}}},
			Failures: []string{"error window of 1s exceeds the SLO's 500ms"}})
	case r.URL.Path == "/api/v1/chaos/chaos/old/1":
		http.Error(w, "no experiment chaos/old/1 (not found)", http.StatusNotFound)
	case r.URL.Path == "/api/v1/records/chaos/old/1":
		writeJSON(w, contract.RunRecord{Kind: contract.RecordChaos, WorkflowID: "chaos/old/1", Pipeline: "old", State: workflows.ChaosPassed, Environment: "hello"})
	case r.URL.Path == "/api/v1/dora" && r.URL.Query().Get("before") == "":
		writeJSON(w, []records.Keys{{Project: project, Pipeline: "pay", Environment: "production", Deployments: 6, PerDay: 0.2,
			LeadTime: 90 * time.Minute, Releases: 8, Failures: 2, ChangeFailureRate: 0.25, TimeToRestore: 20 * time.Minute}})
	case r.URL.Path == "/api/v1/dora" && r.URL.Query().Get("since") == "1440h0m0s" && r.URL.Query().Get("before") == "720h0m0s":
		writeJSON(w, []records.Keys{{Project: project, Pipeline: "pay", Environment: "production", Deployments: 3, PerDay: 0.1,
			LeadTime: 3 * time.Hour, Releases: 4, Failures: 2, ChangeFailureRate: 0.5, TimeToRestore: time.Hour}})
	case r.URL.Path == "/api/v1/pools":
		writeJSON(w, []poolspec.Status{{Name: "go", Namespace: "sluice-pools", Idle: 2, Claimed: 1, MinIdle: 2, MaxTotal: 6,
			Problems: []string{"ErrImagePull: 127.0.0.1:5000/go:1 not found"}}})
	case strings.HasPrefix(r.URL.Path, "/api/v1/logs/"):
		for i := 1; i <= f.logLines; i++ {
			if _, err := fmt.Fprintf(w, "build | line %d\n", i); err != nil {
				return
			}
		}
		if f.hold && r.URL.Query().Get("follow") == "1" {
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type harness struct {
	t       *testing.T
	api     *fakeAPI
	srv     *httptest.Server
	console *Console
}

func newHarness(t *testing.T) *harness {
	api := &fakeAPI{logLines: 10}
	mux := http.NewServeMux()
	c := New(api, nil, slog.New(slog.DiscardHandler), time.Hour)
	c.LogPage = 100
	c.Register(mux)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return &harness{t: t, api: api, srv: srv, console: c}
}

// client is a browser: it keeps cookies, follows no redirects.
func (h *harness) client() *http.Client {
	c := h.srv.Client()
	jar := newJar()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// reply is what a request got back (its body closed).
type reply struct {
	StatusCode int
	Header     http.Header
	cookies    []*http.Cookie
}

func (r reply) Cookies() []*http.Cookie { return r.cookies }

func (h *harness) do(c *http.Client, method, path string, form url.Values, header map[string]string) (reply, string) {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{StatusCode: resp.StatusCode, Header: resp.Header, cookies: resp.Cookies()}, string(b)
}

// signIn signs c in with token and returns the session's CSRF token.
func (h *harness) signIn(c *http.Client, token string) string {
	h.t.Helper()
	resp, _ := h.do(c, http.MethodPost, "/signin", url.Values{"token": {token}, "next": {"/"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		h.t.Fatalf("sign-in: %d %v", resp.StatusCode, resp.Header)
	}
	_, page := h.do(c, http.MethodGet, "/", nil, nil)
	i := strings.Index(page, `name="csrf" value="`)
	if i < 0 {
		h.t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	rest := page[i+len(`name="csrf" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestSignInAndSessionCookie(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	resp, _ := h.do(c, http.MethodGet, "/run?id="+url.QueryEscape(runID), nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin?next=%2Frun%3Fid%3D") {
		t.Fatalf("without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := h.do(c, http.MethodPost, "/signin", url.Values{"token": {"guessed"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "That credential was refused") || strings.Contains(page, "guessed") {
		t.Fatalf("a wrong token: %d\n%s", resp.StatusCode, page)
	}
	// a next that leaves the site is not followed
	resp, _ = h.do(c, http.MethodPost, "/signin", url.Values{"token": {admin}, "next": {"//evil.example/x"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || strings.Contains(cookie.Value, admin) {
		t.Fatalf("session cookie %+v", cookie)
	}
	resp, page = h.do(c, http.MethodGet, "/", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "alice (alice-laptop)") || !strings.Contains(page, "pay") {
		t.Fatalf("runs page: %d\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

func TestActionsNeedTheSessionsCSRFTokenAndTheSameOrigin(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	csrf := h.signIn(c, admin)
	form := url.Values{"id": {runID}, "commit": {commit}, "approve": {"1"}}
	resp, page := h.do(c, http.MethodPost, "/run/decide", form, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "stale or did not come from the console") {
		t.Fatalf("without the CSRF token: %d\n%s", resp.StatusCode, page)
	}
	form.Set("csrf", csrf)
	resp, page = h.do(c, http.MethodPost, "/run/decide", form, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "came from another site") {
		t.Fatalf("cross-origin: %d\n%s", resp.StatusCode, page)
	}
	if n := h.api.decisions.Load(); n != 0 {
		t.Fatalf("%d decisions reached the API", n)
	}
	resp, _ = h.do(c, http.MethodPost, "/run/decide", form, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusSeeOther || h.api.decisions.Load() != 1 {
		t.Fatalf("same origin with the token: %d, %d decisions", resp.StatusCode, h.api.decisions.Load())
	}
	_, page = h.do(c, http.MethodGet, "/run?id="+url.QueryEscape(runID), nil, nil)
	if !strings.Contains(page, "Approved as alice.") {
		t.Errorf("no message after approving:\n%s", page)
	}
	// signed out, the session and its token are gone
	h.do(c, http.MethodPost, "/signout", url.Values{"csrf": {csrf}}, nil)
	resp, _ = h.do(c, http.MethodPost, "/run/decide", form, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?expired=1" || h.api.decisions.Load() != 1 {
		t.Fatalf("after signing out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestViewerSeesNoButtonsAndTheAPIRefusesAForgedDecision(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	csrf := h.signIn(c, viewer)
	_, page := h.do(c, http.MethodGet, "/run?id="+url.QueryEscape(runID), nil, nil)
	if !strings.Contains(page, "awaiting approval") || strings.Contains(page, `id="approve"`) || !strings.Contains(page, "<td>build › vet</td>") {
		t.Fatalf("viewer's run page:\n%s", page)
	}
	resp, page := h.do(c, http.MethodPost, "/run/decide", url.Values{"csrf": {csrf}, "id": {runID}, "commit": {commit}, "approve": {"1"}}, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "no role that may approve") {
		t.Fatalf("viewer's forged decision: %d\n%s", resp.StatusCode, page)
	}
	h2 := h.client()
	h.signIn(h2, admin)
	if _, page := h.do(h2, http.MethodGet, "/run?id="+url.QueryEscape(runID), nil, nil); !strings.Contains(page, `id="approve"`) {
		t.Fatalf("an approver sees no Approve button:\n%s", page)
	}
}

// analysedRun is a run whose release's analysis was inconclusive.
const analysedRun = "pipeline/acme/pay:main@0193abcd-0000-7000-8000-00000000000a"

// TestRunPageShowsTheAnalysis: every measured value in a table of its
// own (not among the decisions), the verdict, and why the approvers are
// asked again.
func TestRunPageShowsTheAnalysis(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	h.signIn(c, admin)
	_, page := h.do(c, http.MethodGet, "/run?id="+url.QueryEscape(analysedRun), nil, nil)
	for _, want := range []string{`<p id="approval-for">Asked again: inconclusive analysis: error-rate was inconclusive 3 of 3 times</p>`,
		`<td>error-rate = 0.1 (200 samples): failed (not &lt; 0.05)</td>`, `<span class="state state-inconclusive">inconclusive</span>`, `id="approve"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the run page lacks %s:\n%s", want, page)
		}
	}
	decisions := page[strings.Index(page, `id="decisions"`):]
	if !strings.Contains(decisions, "<td>bob</td>") || strings.Contains(decisions, "error-rate =") {
		t.Fatalf("the decisions table:\n%s", decisions)
	}
}

func TestLogPagesNeverSendTheWholeLog(t *testing.T) {
	h := newHarness(t)
	h.api.logLines = 100_000 // about 2 MB
	c := h.client()
	h.signIn(c, admin)
	resp, page := h.do(c, http.MethodGet, "/run/log?id="+url.QueryEscape(runID)+"&page=3", nil, nil)
	if resp.StatusCode != http.StatusOK || strings.Count(page, "build | line ") != 100 ||
		!strings.Contains(page, "build | line 201\n") || !strings.Contains(page, "build | line 300\n") || strings.Contains(page, "build | line 301\n") {
		t.Fatalf("page 3: %d, %d lines", resp.StatusCode, strings.Count(page, "build | line "))
	}
	if !strings.Contains(page, "page=4") || !strings.Contains(page, "page=2") || len(page) > 64<<10 {
		t.Errorf("page links or size (%d bytes)", len(page))
	}

	// the live stream starts with the newest lines, saying how many it skipped
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/run/events?id="+url.QueryEscape(runID), nil)
	stream, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	var skipped string
	var lines []string
	sc := bufio.NewScanner(stream.Body)
	event := ""
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "event: "):
			event = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: ") && event == "skipped":
			skipped = strings.TrimPrefix(l, "data: ")
		case strings.HasPrefix(l, "data: ") && event == "":
			lines = append(lines, strings.TrimPrefix(l, "data: "))
		case l == "" && event == "end":
			cancel()
		case l == "":
			event = ""
		}
	}
	if skipped != "99900" || len(lines) != 100 || lines[0] != "build | line 99901" || lines[99] != "build | line 100000" {
		t.Fatalf("stream: skipped %q, %d lines (%q … )", skipped, len(lines), lines)
	}
}

func TestUnknownPages(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	h.signIn(c, admin)
	resp, page := h.do(c, http.MethodGet, "/no/such/page", nil, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "There is no page /no/such/page") {
		t.Fatalf("unknown page: %d\n%s", resp.StatusCode, page)
	}
	resp, page = h.do(c, http.MethodGet, "/run?id=not-a-run", nil, nil)
	if resp.StatusCode != http.StatusNotFound || strings.Contains(page, "goroutine") {
		t.Fatalf("unknown run: %d\n%s", resp.StatusCode, page)
	}
}

func TestAnExpiredSessionDoesNothing(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	csrf := h.signIn(c, admin)
	later := time.Now().Add(2 * time.Hour) // the sessions last an hour
	h.console.sessions.now = func() time.Time { return later }
	resp, _ := h.do(c, http.MethodPost, "/run/decide", url.Values{"csrf": {csrf}, "id": {runID}, "commit": {commit}, "approve": {"1"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?expired=1" || h.api.decisions.Load() != 0 {
		t.Fatalf("an expired session's action: %d %s, %d decisions", resp.StatusCode, resp.Header.Get("Location"), h.api.decisions.Load())
	}
	_, page := h.do(c, http.MethodGet, "/signin?expired=1", nil, nil)
	if !strings.Contains(page, "Your sign-in has ended; nothing was done") {
		t.Fatalf("sign-in page:\n%s", page)
	}
}

func TestChaosPages(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	h.signIn(c, admin)
	resp, page := h.do(c, http.MethodGet, "/chaos/run?id=chaos/pod-kill/1", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("experiment page: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{`class="bar bar-failed error-window" x="100" y="10" width="50"`, "503: 1s", "HelloInstanceDown (firing)",
		"error window of 1s exceeds", "<td>steady state</td><td>50</td><td>0</td><td>3ms</td><td>9ms</td>", `<line class="mark" x1="50"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the experiment's page lacks %q", want)
		}
	}
	if _, page = h.do(c, http.MethodGet, "/chaos/run?id=chaos/old/1", nil, nil); !strings.Contains(page, "record of its verdict") || !strings.Contains(page, "passed") {
		t.Errorf("a forgotten experiment:\n%s", page)
	}
	if _, page = h.do(c, http.MethodGet, "/chaos", nil, nil); !strings.Contains(page, "<code>chaos/old/1</code>") || !strings.Contains(page, `href="/chaos/run?id=chaos%2fold%2f1"`) {
		t.Errorf("the chaos page:\n%s", page)
	}
	if resp, _ = h.do(c, http.MethodGet, "/chaos/run?id=../api/v1/whoami", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a path for an id: %d", resp.StatusCode)
	}
}

func TestPoolsPage(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	h.signIn(c, admin)
	resp, page := h.do(c, http.MethodGet, "/pools", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<td>go</td><td>sluice-pools</td><td class="idle">2</td><td>0</td><td>1</td><td>2 / 6</td>`) ||
		!strings.Contains(page, "ErrImagePull: 127.0.0.1:5000/go:1 not found") {
		t.Fatalf("pools page: %d\n%s", resp.StatusCode, page)
	}
}

func TestDeliveryPageShowsTheTrend(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	h.signIn(c, admin)
	_, page := h.do(c, http.MethodGet, "/delivery", nil, nil)
	for _, want := range []string{"6 (0.20) <span class=\"was\">was 0.10</span>", "1h30m0s <span class=\"was\">was 3h0m0s</span>",
		"25 % (2 of 8) <span class=\"was\">was 50 %</span>", "20m0s <span class=\"was\">was 1h0m0s</span>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the delivery page lacks %q", want)
		}
	}
}

func TestRefusedSignInsAreLimitedPerAddress(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	for range signInFailures {
		if resp, _ := h.do(c, http.MethodPost, "/signin", url.Values{"token": {"guessed"}}, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a wrong token: %d", resp.StatusCode)
		}
	}
	resp, page := h.do(c, http.MethodPost, "/signin", url.Values{"token": {admin}}, nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Too many refused sign-ins") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d refusals: %d", signInFailures, resp.StatusCode)
	}
	later := time.Now().Add(signInWindow + time.Second)
	h.console.refused.now = func() time.Time { return later }
	if resp, _ := h.do(c, http.MethodPost, "/signin", url.Values{"token": {admin}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a minute later: %d", resp.StatusCode)
	}
}

func TestASessionFollowsAtMostSoManyRuns(t *testing.T) {
	h := newHarness(t)
	h.api.hold = true
	c := h.client()
	h.signIn(c, admin)
	open := func() (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/run/events?id="+url.QueryEscape(runID), nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, cancel
	}
	var cancels []context.CancelFunc
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	for range maxStreams {
		resp, cancel := open()
		cancels = append(cancels, cancel)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
		defer resp.Body.Close()
	}
	resp, cancel := open()
	resp.Body.Close()
	cancel()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("stream %d: %d", maxStreams+1, resp.StatusCode)
	}
	// one page closed, another may follow
	cancels[0]()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, cancel := open()
		resp.Body.Close()
		cancel()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a stream closed, yet another is refused: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
