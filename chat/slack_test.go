package chat

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/worker"
	"github.com/sluice-cd/sluice/workflows"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackAPI records what Sluice sends to the Slack test server.
type slackAPI struct {
	mu      sync.Mutex
	posts   []url.Values
	updates []url.Values
	views   []url.Values
	// message holds the blocks last posted or updated, for conversations.history.
	blocks string
}

func (a *slackAPI) record(list *[]url.Values, w http.ResponseWriter, r *http.Request) url.Values {
	b, _ := io.ReadAll(r.Body)
	v, _ := url.ParseQuery(string(b))
	a.mu.Lock()
	*list = append(*list, v)
	if bl := v.Get("blocks"); bl != "" {
		a.blocks = bl
	}
	a.mu.Unlock()
	return v
}

func (a *slackAPI) snapshot() (posts, updates, views []url.Values) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]url.Values(nil), a.posts...), append([]url.Values(nil), a.updates...), append([]url.Values(nil), a.views...)
}

func (a *slackAPI) server(t *testing.T) *slacktest.Server {
	s := slacktest.NewTestServer(func(s slacktest.Customize) {
		s.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			v := a.record(&a.posts, w, r)
			fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"1700000000.%06d"}`, v.Get("channel"), len(a.posts))
		})
		s.Handle("/chat.update", func(w http.ResponseWriter, r *http.Request) {
			v := a.record(&a.updates, w, r)
			fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q}`, v.Get("channel"), v.Get("ts"))
		})
		s.Handle("/views.open", func(w http.ResponseWriter, r *http.Request) {
			// views.open sends JSON, not a form
			b, _ := io.ReadAll(r.Body)
			var req struct {
				TriggerID string          `json:"trigger_id"`
				View      json.RawMessage `json:"view"`
			}
			_ = json.Unmarshal(b, &req)
			a.mu.Lock()
			a.views = append(a.views, url.Values{"trigger_id": {req.TriggerID}, "view": {string(req.View)}})
			a.mu.Unlock()
			fmt.Fprint(w, `{"ok":true,"view":{"id":"V1"}}`)
		})
		s.Handle("/conversations.history", func(w http.ResponseWriter, r *http.Request) {
			a.mu.Lock()
			blocks := a.blocks
			a.mu.Unlock()
			if blocks == "" {
				blocks = "[]"
			}
			fmt.Fprintf(w, `{"ok":true,"messages":[{"type":"message","ts":"1","blocks":%s}]}`, blocks)
		})
	})
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

type slackStack struct {
	t    *testing.T
	api  *slackAPI
	rc   *runs.Client
	url  string
	log  *bytes.Buffer
	done chan struct{}
	resp []string
}

const approvalSpec = "version: 1\nbuild: {commands: [\"true\"]}\napproval:\n  approvers: {users: [U0ALICE, U0BOB, U0CAROL]}\n  channel: \"#releases\"\n"

// newSlackStack runs a worker with the Slack adapter on an embedded
// Temporal and the interactions handler, whose replay record is replays
// (default: its memory).
func newSlackStack(t *testing.T, replays ...ReplayRecord) *slackStack {
	t.Helper()
	api := &slackAPI{}
	sts := api.server(t)
	c := devservertest.Start(t)
	adapter := NewSlack("xoxb-test-token", sts.GetAPIURL(), "#deploys", "http://127.0.0.1:8233")
	rc := &runs.Client{Temporal: c}
	w, err := worker.New(c, worker.Config{DataDir: t.TempDir(), Chat: adapter, Runs: rc})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	s := &slackStack{t: t, api: api, rc: rc, log: &bytes.Buffer{}, done: make(chan struct{}, 16)}
	h := &Interactions{SigningSecret: signingSecret, Runs: rc, Slack: adapter,
		Log: slog.New(slog.NewTextHandler(s.log, nil)), done: func() { s.done <- struct{}{} }}
	if len(replays) > 0 {
		h.Replays = replays[0]
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// start runs a pipeline whose author is carol, known to Slack as U0CAROL.
func (s *slackStack) start() runs.Ref {
	s.t.Helper()
	spec, err := pipelines.Parse(".sluice.yml", []byte(approvalSpec), "hello")
	if err != nil {
		s.t.Fatal(err)
	}
	repo, commit := gitsrctest.Repo(s.t, "../examples/hello", approvalSpec)
	st, err := s.rc.Start(context.Background(), workflows.Request{Spec: *spec, Push: workflows.Push{
		Repo: "acme/hello", CloneURL: repo, Branch: "main", Commit: commit,
		Author: "carol@example.com", AuthorIDs: []string{"carol@example.com", "U0CAROL"}}})
	if err != nil {
		s.t.Fatal(err)
	}
	return st.Ref
}

// approvalMessage waits for the approval message and returns it.
func (s *slackStack) approvalMessage() url.Values {
	s.t.Helper()
	var msg url.Values
	poll.Until(s.t, "the approval message", func() bool {
		posts, _, _ := s.api.snapshot()
		for _, p := range posts {
			if strings.Contains(p.Get("blocks"), ActionApprove) {
				msg = p
				return true
			}
		}
		return false
	})
	return msg
}

// click builds a block_actions interaction as Slack sends it.
func click(user, action, value string) []byte {
	payload := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "username": strings.ToLower(user), "team_id": "T0001"},
		"api_app_id": "A0001",
		"token":      "legacy-verification-token",
		"container":  map[string]any{"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0RELEASES", "is_ephemeral": false},
		"trigger_id": "12466734323.1395872398.f2e4b2a3",
		"team":       map[string]any{"id": "T0001", "domain": "acme"},
		"channel":    map[string]any{"id": "C0RELEASES", "name": "releases"},
		"message":    map[string]any{"type": "message", "ts": "1700000000.000001", "text": "waiting for approval"},
		"actions": []map[string]any{{
			"action_id": action, "block_id": "decide", "value": value, "type": "button",
			"text": map[string]any{"type": "plain_text", "text": "Approve"}, "action_ts": "1700000010.000200",
		}},
	}
	b, _ := json.Marshal(payload)
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

// sign signs body as Slack does, at time ts.
func sign(body []byte, ts time.Time, secret string) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:%s", stamp, body)
	return http.Header{
		"Content-Type":              {"application/x-www-form-urlencoded"},
		"X-Slack-Request-Timestamp": {stamp},
		"X-Slack-Signature":         {"v0=" + hex.EncodeToString(m.Sum(nil))},
	}
}

func (s *slackStack) post(h http.Header, body []byte) int {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+"/slack/interactions", bytes.NewReader(body))
	req.Header = h
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	s.resp = append(s.resp, string(b))
	if time.Since(start) > 3*time.Second {
		s.t.Errorf("acknowledged after %s, Slack gives up after 3s", time.Since(start))
	}
	return resp.StatusCode
}

// handled waits until the background work of n accepted clicks is done.
func (s *slackStack) handled(n int) {
	s.t.Helper()
	for range n {
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.t.Fatal("click not handled")
		}
	}
}

func (s *slackStack) lastUpdate() string {
	_, updates, _ := s.api.snapshot()
	if len(updates) == 0 {
		return ""
	}
	u := updates[len(updates)-1]
	return u.Get("text") + u.Get("blocks")
}

func TestApprovalMessageHasBothButtons(t *testing.T) {
	s := newSlackStack(t)
	ref := s.start()
	msg := s.approvalMessage()
	var blocks slack.Blocks
	if err := json.Unmarshal([]byte(msg.Get("blocks")), &blocks); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range blocks.BlockSet {
		if a, ok := b.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				btn := e.(*slack.ButtonBlockElement)
				ids = append(ids, btn.ActionID)
				if btn.Value != ref.String() {
					t.Errorf("button carries %q, want the run %q", btn.Value, ref)
				}
			}
		}
	}
	if strings.Join(ids, ",") != ActionApprove+","+ActionReject {
		t.Fatalf("buttons %v", ids)
	}
	if msg.Get("channel") != "#releases" {
		t.Errorf("posted to %q, want the spec's channel", msg.Get("channel"))
	}
	for _, want := range []string{"acme/hello", "carol@example.com", "Temporal UI", "build"} {
		if !strings.Contains(msg.Get("blocks"), want) {
			t.Errorf("message lacks %q", want)
		}
	}
}

func TestSignedApproveClickCompletesTheRun(t *testing.T) {
	s := newSlackStack(t)
	ref := s.start()
	s.approvalMessage()
	// a refused click captured and replayed inside the signature window is
	// handled once: the replays add nothing to the run's history
	bad := click("U0MALLORY", ActionApprove, ref.String())
	hb := sign(bad, time.Now(), signingSecret)
	if code := s.post(hb, bad); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	s.handled(1)
	for range 30 {
		if code := s.post(hb, bad); code != http.StatusConflict {
			t.Fatalf("replay status %d, want 409", code)
		}
	}
	// the verifier takes the hex in any case: so must the replay cache
	sig := hb.Get("X-Slack-Signature")
	for _, variant := range []string{"v0=" + strings.ToUpper(sig[3:]), "v0=" + strings.ToUpper(sig[3:9]) + sig[9:]} {
		h := hb.Clone()
		h.Set("X-Slack-Signature", variant)
		if code := s.post(h, bad); code != http.StatusConflict {
			t.Fatalf("replay with the signature %s: status %d, want 409", variant, code)
		}
	}
	body := click("U0ALICE", ActionApprove, ref.String())
	h := sign(body, time.Now(), signingSecret)
	if code := s.post(h, body); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	s.handled(1)
	var st workflows.RunState
	poll.Until(t, "the run to succeed", func() bool {
		_, st, _ = s.rc.Status(context.Background(), ref)
		return st.State == workflows.StateSucceeded
	})
	if st.State != workflows.StateSucceeded {
		t.Fatalf("state %s", st.State)
	}
	if len(st.Approval.Approvals) != 1 || st.Approval.Approvals[0].User != "U0ALICE" || st.Approval.Approvals[0].Via != "slack" {
		t.Fatalf("approvals %+v", st.Approval.Approvals)
	}
	if len(st.Approval.Refusals) != 1 {
		t.Fatalf("a replayed click was recorded %d times: %+v", len(st.Approval.Refusals), st.Approval.Refusals)
	}
	_, updates, _ := s.api.snapshot()
	var edited bool
	for _, u := range updates {
		if strings.Contains(u.Get("text"), "Approved by <@U0ALICE>") {
			edited = true
			if strings.Contains(u.Get("blocks"), ActionApprove) {
				t.Error("the edited message still has the buttons")
			}
		}
	}
	if !edited {
		t.Fatalf("message not edited to show the approver: %v", updates)
	}
}

func TestRefusedClicksAreShown(t *testing.T) {
	s := newSlackStack(t)
	ref := s.start()
	s.approvalMessage()
	for _, tc := range []struct{ user, want string }{
		{"U0MALLORY", "<@U0MALLORY> cannot decide: not an approver"},
		{"U0CAROL", "<@U0CAROL> cannot decide: the author of the change cannot approve it"},
	} {
		body := click(tc.user, ActionApprove, ref.String())
		if code := s.post(sign(body, time.Now(), signingSecret), body); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		s.handled(1)
		if got := s.lastUpdate(); !strings.Contains(got, tc.want) {
			t.Errorf("message edit %q lacks %q", got, tc.want)
		}
		if !strings.Contains(s.lastUpdate(), ActionApprove) {
			t.Error("a refused click must leave the buttons for the real approvers")
		}
	}
	_, st, _ := s.rc.Status(context.Background(), ref)
	if st.State != workflows.StateAwaitingApproval || len(st.Approval.Refusals) != 2 {
		t.Fatalf("state %s refusals %+v", st.State, st.Approval.Refusals)
	}
}

func TestRejectAsksForAReason(t *testing.T) {
	s := newSlackStack(t)
	ref := s.start()
	s.approvalMessage()
	body := click("U0BOB", ActionReject, ref.String())
	if code := s.post(sign(body, time.Now(), signingSecret), body); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	s.handled(1)
	_, _, views := s.api.snapshot()
	if len(views) != 1 {
		t.Fatalf("want the reason dialog opened, got %d views", len(views))
	}
	var view slack.ModalViewRequest
	if err := json.Unmarshal([]byte(views[0].Get("view")), &view); err != nil || view.CallbackID != ViewReject || views[0].Get("trigger_id") == "" {
		t.Fatalf("dialog %q: %v", views[0].Get("view"), err)
	}
	// Bob types a reason and submits the dialog.
	sub := map[string]any{
		"type": "view_submission", "user": map[string]any{"id": "U0BOB"},
		"view": map[string]any{"callback_id": view.CallbackID, "private_metadata": view.PrivateMetadata,
			"state": map[string]any{"values": map[string]any{blockReason: map[string]any{inputReason: map[string]any{"type": "plain_text_input", "value": "breaks checkout"}}}}},
	}
	b, _ := json.Marshal(sub)
	form := []byte(url.Values{"payload": {string(b)}}.Encode())
	if code := s.post(sign(form, time.Now(), signingSecret), form); code != http.StatusOK {
		t.Fatalf("submission status %d", code)
	}
	s.handled(1)
	var st workflows.RunState
	poll.Until(t, "the run to be rejected", func() bool {
		_, st, _ = s.rc.Status(context.Background(), ref)
		return st.State == workflows.StateRejected
	})
	if st.State != workflows.StateRejected || st.Approval.Rejection.Comment != "breaks checkout" {
		t.Fatalf("state %s rejection %+v", st.State, st.Approval.Rejection)
	}
}

var hexDigest = regexp.MustCompile(`[0-9a-f]{64}`)

func TestForgedAndStaleClicksAreRefused(t *testing.T) {
	s := newSlackStack(t)
	ref := s.start()
	s.approvalMessage()
	body := click("U0ALICE", ActionApprove, ref.String())
	other := click("U0BOB", ActionApprove, ref.String())
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
	}{
		{"six minutes old", sign(body, time.Now().Add(-6*time.Minute), signingSecret), body},
		{"six minutes ahead", sign(body, time.Now().Add(6*time.Minute), signingSecret), body},
		{"wrong secret", sign(body, time.Now(), "not-the-signing-secret"), body},
		{"signature of another body", sign(other, time.Now(), signingSecret), body},
		{"no signature", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := s.post(tc.h, tc.body); code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", code)
			}
		})
	}
	for _, r := range s.resp {
		if hexDigest.MatchString(r) {
			t.Errorf("response leaks a digest: %q", r)
		}
	}
	if hexDigest.MatchString(s.log.String()) {
		t.Errorf("log leaks a digest:\n%s", s.log.String())
	}
	_, st, _ := s.rc.Status(context.Background(), ref)
	if st.State != workflows.StateAwaitingApproval || len(st.Approval.Approvals) != 0 {
		t.Fatalf("a refused click changed the run: %s %+v", st.State, st.Approval.Approvals)
	}
}

// TestNoticesAfterTheRequest checks what the workflow's later notices do in
// Slack: a reminder is a reply in the approval message's thread, expiry
// replaces the buttons, and the result is posted to the channel.
func TestNoticesAfterTheRequest(t *testing.T) {
	api := &slackAPI{}
	sts := api.server(t)
	s := NewSlack("xoxb-test-token", sts.GetAPIURL(), "#deploys", "http://ui")
	base := contract.Notice{RunID: "r1", WorkflowID: "pipeline/acme/hello/main", Repo: "acme/hello", Branch: "main",
		Commit: strings.Repeat("a", 40), Author: "carol@example.com", Approvers: []string{"U0ALICE"}, ExpiresAt: time.Now().Add(time.Hour)}
	req := base
	req.Kind = contract.NoticeApprovalRequested
	ref, err := s.Post(context.Background(), req)
	if err != nil || ref.TS == "" {
		t.Fatalf("request: %v %+v", err, ref)
	}
	reminder := base
	reminder.Kind, reminder.Message = contract.NoticeApprovalReminder, ref
	expired := base
	expired.Kind, expired.Message, expired.Text = contract.NoticeApprovalExpired, ref, "no decision within 72h"
	result := base
	result.Kind, result.Text = contract.NoticeRunFinished, "timed_out in phase approval: approval timed out; rolled back: RemoveTag, DeleteEnvironment"
	for _, n := range []contract.Notice{reminder, expired, result} {
		if _, err := s.Post(context.Background(), n); err != nil {
			t.Fatalf("%s: %v", n.Kind, err)
		}
	}
	posts, updates, _ := api.snapshot()
	if len(posts) != 3 || posts[1].Get("thread_ts") != ref.TS || !strings.Contains(posts[1].Get("text"), "Reminder") {
		t.Fatalf("reminder not threaded under the approval: %v", posts)
	}
	if len(updates) != 1 || updates[0].Get("ts") != ref.TS || !strings.Contains(updates[0].Get("text"), "expired") ||
		strings.Contains(updates[0].Get("blocks"), ActionApprove) {
		t.Fatalf("expiry edit: %v", updates)
	}
	if !strings.Contains(posts[2].Get("text"), "rolled back: RemoveTag, DeleteEnvironment") || posts[2].Get("channel") != "#deploys" {
		t.Fatalf("result: %v", posts[2])
	}
}

// TestRetriedPostFindsItsMessage: every top-level message carries its
// notice's key as metadata; a retried post looks the key up in the
// channel (named, so its id comes from conversations.list, page by page)
// and does not post again. Run as a real activity on its second attempt.
func TestRetriedPostFindsItsMessage(t *testing.T) {
	var mu sync.Mutex
	var posts int
	var stored []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/conversations.list") && r.Form.Get("cursor") == "":
			fmt.Fprint(w, `{"ok":true,"channels":[{"id":"C0OTHER","name":"general"}],"response_metadata":{"next_cursor":"p2"}}`)
		case strings.HasSuffix(r.URL.Path, "/conversations.list"):
			fmt.Fprint(w, `{"ok":true,"channels":[{"id":"C0RELEASES","name":"releases"}],"response_metadata":{"next_cursor":""}}`)
		case strings.HasSuffix(r.URL.Path, "/conversations.history"):
			if r.Form.Get("channel") != "C0RELEASES" || r.Form.Get("include_all_metadata") != "1" {
				t.Errorf("history of %q, metadata %q", r.Form.Get("channel"), r.Form.Get("include_all_metadata"))
			}
			b, _ := json.Marshal(map[string]any{"ok": true, "messages": stored})
			w.Write(b)
		case strings.HasSuffix(r.URL.Path, "/chat.postMessage"):
			posts++
			var meta map[string]any
			_ = json.Unmarshal([]byte(r.Form.Get("metadata")), &meta)
			ts := fmt.Sprintf("1700000000.%06d", posts)
			stored = append([]map[string]any{{"type": "message", "ts": ts, "metadata": meta}}, stored...)
			fmt.Fprintf(w, `{"ok":true,"channel":"C0RELEASES","ts":%q}`, ts)
		}
	}))
	defer srv.Close()
	s := NewSlack("xoxb-test", srv.URL+"/", "#releases", "")
	n := contract.Notice{Kind: contract.NoticeApprovalRequested, WorkflowID: "pipeline/acme/hello:main", RunID: "r1", Repo: "acme/hello", Commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Approvers: []string{"alice"}}

	// the activity posts, and its first attempt then "dies" (fails after
	// the side effect); Temporal retries it
	post := func() contract.MessageRef {
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestWorkflowEnvironment()
		env.RegisterActivityWithOptions(func(ctx context.Context, n contract.Notice) (contract.MessageRef, error) {
			ref, err := s.Post(ctx, n)
			if err == nil && activity.GetInfo(ctx).Attempt == 1 {
				return ref, errors.New("worker died after posting")
			}
			return ref, err
		}, activity.RegisterOptions{Name: "Post"})
		env.ExecuteWorkflow(func(ctx workflow.Context) (contract.MessageRef, error) {
			ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second,
				RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Millisecond, MaximumAttempts: 3}})
			var ref contract.MessageRef
			err := workflow.ExecuteActivity(ctx, "Post", n).Get(ctx, &ref)
			return ref, err
		})
		var ref contract.MessageRef
		if err := env.GetWorkflowResult(&ref); err != nil {
			t.Fatal(err)
		}
		return ref
	}
	ref := post()
	if posts != 1 || ref.Channel != "C0RELEASES" || ref.TS != "1700000000.000001" {
		t.Fatalf("%d posts, retry returned %+v: want one message, found again by the retry", posts, ref)
	}
	n.RunID = "r2" // another run's notice is not that message
	if post(); posts != 2 {
		t.Fatalf("another run's notice was not posted (%d posts)", posts)
	}
}
