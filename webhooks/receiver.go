package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/metrics"
	"github.com/sluice-cd/sluice/pipelines"
)

// MaxBody is the default largest webhook body accepted (GitHub caps
// payloads at 25 MB; pushes are far smaller).
const MaxBody = 5 << 20

// Outcome is what a Starter did with a push.
type Outcome struct {
	// Status is the HTTP status to answer: 202 started, 200 duplicate or
	// ignored, 422 when the spec at the commit is invalid.
	Status int    `json:"-"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
	// Dispatch is the durable record of the delivery (a workflow ID).
	Dispatch string `json:"dispatch,omitempty"`
}

// Starter turns a verified push into a run. Implementations must be safe
// for concurrent use and must start at most one run per DeliveryID.
type Starter interface {
	StartPush(ctx context.Context, repo *config.Repository, p Push) (Outcome, error)
}

// Receiver is the webhook HTTP handler set.
type Receiver struct {
	Config  *config.Config
	Start   Starter
	Log     *slog.Logger
	MaxBody int64
	// Metrics, when set, count deliveries by provider and answer.
	Metrics *metrics.Metrics
}

type provider struct {
	name     string
	verify   func(http.Header, []byte, string) error
	parse    func(event string, body []byte) (*Push, error)
	event    string
	delivery []string
}

var providers = []provider{
	{config.GitHub, VerifyGitHub, ParseGitHub, "X-GitHub-Event", []string{"X-GitHub-Delivery"}},
	{config.GitLab, VerifyGitLab, ParseGitLab, "X-Gitlab-Event", []string{"Idempotency-Key", "X-Gitlab-Event-UUID"}},
	{config.Gitea, VerifyGitea, ParseGitea, "X-Gitea-Event", []string{"X-Gitea-Delivery"}},
}

// Register mounts POST /hooks/{github,gitlab,gitea}.
func (rc *Receiver) Register(mux *http.ServeMux) {
	for _, p := range providers {
		h := func(w http.ResponseWriter, r *http.Request) { rc.handle(w, r, p) }
		if rc.Metrics != nil {
			h = rc.Metrics.CountWebhook(p.name, h)
		}
		mux.HandleFunc("POST /hooks/"+p.name, h)
	}
}

func reply(w http.ResponseWriter, status int, result, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Outcome{Result: result, Detail: detail})
}

func (rc *Receiver) handle(w http.ResponseWriter, r *http.Request, p provider) {
	limit := rc.MaxBody
	if limit == 0 {
		limit = MaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reply(w, http.StatusRequestEntityTooLarge, "rejected", fmt.Sprintf("body larger than %d bytes", limit))
			return
		}
		reply(w, http.StatusBadRequest, "rejected", "could not read body")
		return
	}
	log := rc.Log.With("provider", p.name)

	// Verify before anything reads the body: the repository is the one whose
	// secret signed it.
	var repo *config.Repository
	var authErr error
	for _, candidate := range rc.Config.ByProvider(p.name) {
		if authErr = p.verify(r.Header, body, candidate.Secret()); authErr == nil {
			repo = candidate
			break
		}
	}
	if repo == nil {
		msg := "no repository of this provider is configured"
		if authErr != nil {
			msg = authErr.Error()
		}
		log.Warn("webhook refused", "reason", msg, "remote", r.RemoteAddr)
		reply(w, http.StatusUnauthorized, "unauthorized", msg)
		return
	}

	if p.name == "github" {
		// GitHub's "application/x-www-form-urlencoded" delivery setting
		// sends the JSON in a payload field; the signature covers the form.
		if body, err = githubForm(r.Header, body); err != nil {
			reply(w, http.StatusBadRequest, "rejected", err.Error())
			return
		}
	}
	push, err := p.parse(r.Header.Get(p.event), body)
	var ignored Ignored
	switch {
	case errors.As(err, &ignored):
		reply(w, http.StatusOK, "ignored", ignored.Error())
		return
	case err != nil:
		reply(w, http.StatusBadRequest, "rejected", err.Error())
		return
	}
	if !strings.EqualFold(push.Repo, repo.Name) {
		reply(w, http.StatusNotFound, "unknown repository", fmt.Sprintf("repository %q is not configured in Sluice", push.Repo))
		return
	}
	if push.Deleted {
		reply(w, http.StatusOK, "ignored", "branch "+push.Branch+" was deleted")
		return
	}
	// the server's branch list is of branches; a tag's run is the spec's
	// on.tags and the project's policy to decide
	if push.Tag == "" && !pipelines.MatchBranch(repo.Branches, push.Branch) {
		reply(w, http.StatusOK, "ignored", "branch "+push.Branch+" does not trigger runs")
		return
	}
	push.DeliveryID = deliveryID(r.Header, p.delivery, body)
	if err := push.Check(); err != nil {
		reply(w, http.StatusBadRequest, "rejected", err.Error())
		return
	}
	out, err := rc.Start.StartPush(r.Context(), repo, *push)
	if err != nil {
		log.Error("start run failed", "repo", push.Repo, "branch", push.Branch, "commit", push.Commit, "error", err)
		reply(w, http.StatusServiceUnavailable, "error", "could not start the run; the provider may redeliver: "+err.Error())
		return
	}
	log.Info("webhook", "repo", push.Repo, "branch", push.Branch, "commit", push.Commit, "delivery", push.DeliveryID, "result", out.Result)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(out.Status)
	_ = json.NewEncoder(w).Encode(out)
}

// githubForm returns the JSON of a form-encoded GitHub delivery, and any
// other body as it is.
func githubForm(h http.Header, body []byte) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		return nil, errors.New("form-encoded delivery without a payload field")
	}
	return []byte(form.Get("payload")), nil
}

// deliveryID is the provider's delivery header, or a hash of the body when
// the provider sent none (a redelivery has the same body).
func deliveryID(h http.Header, names []string, body []byte) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	sum := sha256.Sum256(body)
	return "body-" + hex.EncodeToString(sum[:16])
}
