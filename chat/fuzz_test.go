package chat

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// FuzzParseInteraction feeds arbitrary form bodies to the interaction
// parser: it must not panic and must never accept a payload without a user.
func FuzzParseInteraction(f *testing.F) {
	f.Add(click("U0ALICE", ActionApprove, "pipeline/acme/hello/main@0193abcd-ef01-7000-8000-000000000000"))
	f.Add([]byte(url.Values{"payload": {`{"type":"view_submission","user":{"id":"U1"},"view":{"callback_id":"sluice_reject_reason","private_metadata":"{}"}}`}}.Encode()))
	f.Add([]byte("payload=%7B%7D"))
	f.Add([]byte("payload="))
	f.Add([]byte("%zz"))
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := ParseInteraction(body)
		if err == nil && (cb == nil || cb.User.ID == "") {
			t.Fatalf("accepted a payload without a user: %+v", cb)
		}
	})
}

// FuzzSignedInteraction signs arbitrary bodies with the real secret and
// serves them: whatever a Slack user's client sends, the handler answers
// and never panics (a view_submission without view.state once did).
func FuzzSignedInteraction(f *testing.F) {
	f.Add([]byte(url.Values{"payload": {`{"type":"view_submission","user":{"id":"U1"},"view":{"callback_id":"sluice_reject_reason","private_metadata":"{}"}}`}}.Encode()))
	f.Add(click("U0ALICE", ActionReject, "pipeline/acme/hello/main@0193abcd-ef01-7000-8000-000000000000"))
	f.Add([]byte(url.Values{"payload": {`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"sluice_approve"}]}`}}.Encode()))
	h := &Interactions{SigningSecret: signingSecret, Runs: refuseAll{}, Log: slog.New(slog.DiscardHandler),
		Slack: NewSlack("xoxb-test-token", "http://127.0.0.1:1/", "#deploys", ""), Timeout: time.Second}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/slack/interactions", bytes.NewReader(body))
		req.Header = sign(body, time.Now(), signingSecret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 0 {
			t.Fatal("no answer")
		}
	})
}

// refuseAll is a Decider that refuses every decision.
type refuseAll struct{}

func (refuseAll) Decide(context.Context, runs.Ref, string, bool, workflows.Decision) (workflows.DecisionResult, error) {
	return workflows.DecisionResult{}, errors.New("refused")
}
