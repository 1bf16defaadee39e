package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// Decider sends approval decisions to runs (runs.Client does).
type Decider interface {
	Decide(ctx context.Context, r runs.Ref, commit string, approve bool, d workflows.Decision) (workflows.DecisionResult, error)
}

// Interactions handles POST /slack/interactions: the Approve and Reject
// buttons and the rejection dialog.
type Interactions struct {
	SigningSecret string
	Runs          Decider
	Slack         *Slack
	Log           *slog.Logger
	// Timeout bounds the work done after the 3-second acknowledgement.
	Timeout time.Duration
	// Replays keeps the signatures of handled requests, so a restarted
	// server, or another replica, refuses a captured click too. Default:
	// this process's memory.
	Replays ReplayRecord
	// done, when set, is called after each click has been fully handled (tests).
	done func()
	// memory is the replay record without Replays.
	memory memoryReplays
}

// replays is where handled requests are remembered: Replays, else this
// process's memory.
func (h *Interactions) replays() ReplayRecord {
	if h.Replays != nil {
		return h.Replays
	}
	return &h.memory
}

// maxInteraction bounds an interaction body; real ones are a few KB.
const maxInteraction = 1 << 20

// Register mounts the handler.
func (h *Interactions) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /slack/interactions", h.ServeHTTP)
}

// ServeHTTP verifies the request's signature and timestamp (five-minute
// window), acknowledges at once, and applies the click in the background.
// A verification failure is answered and logged without the verifier's
// error text, which contains a valid signature.
func (h *Interactions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInteraction))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !h.verified(r.Header, body) {
		h.Log.Warn("slack interaction refused: bad or stale signature", "remote", r.RemoteAddr)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	// keyed by the signature's value, not its spelling: the verifier
	// accepts the hex in either case
	first, err := h.replays().FirstSeen(r.Context(), "slack:"+strings.ToLower(strings.TrimSpace(r.Header.Get("X-Slack-Signature"))), time.Now(), replayWindow)
	if err != nil {
		// unrecorded, it could be handled twice: not at all instead
		h.Log.Error("slack interaction refused: cannot record it against replays", "error", err)
		http.Error(w, "the request could not be recorded; try again", http.StatusServiceUnavailable)
		return
	}
	if !first {
		// a captured request sent again within the signature window
		h.Log.Warn("slack interaction refused: replayed request", "remote", r.RemoteAddr)
		http.Error(w, "request already handled", http.StatusConflict)
		return
	}
	cb, err := ParseInteraction(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		var act *slack.BlockAction
		for _, a := range cb.ActionCallback.BlockActions {
			if a.ActionID == ActionApprove || a.ActionID == ActionReject {
				act = a
				break
			}
		}
		if act == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		if act.ActionID == ActionReject {
			// A rejection needs a reason: ask for it in a dialog.
			h.async(func(ctx context.Context) { h.openRejectDialog(ctx, cb, act.Value) })
		} else {
			h.async(func(ctx context.Context) { h.decide(ctx, cb.User.ID, act.Value, true, "", messageOf(cb)) })
		}
		w.WriteHeader(http.StatusOK)
	case slack.InteractionTypeViewSubmission:
		if cb.View.CallbackID != ViewReject {
			w.WriteHeader(http.StatusOK)
			return
		}
		var meta rejectMeta
		if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta); err != nil {
			http.Error(w, "bad dialog metadata", http.StatusBadRequest)
			return
		}
		if cb.View.State == nil {
			http.Error(w, "dialog submission without state", http.StatusBadRequest)
			return
		}
		reason := strings.TrimSpace(cb.View.State.Values[blockReason][inputReason].Value)
		h.async(func(ctx context.Context) { h.decide(ctx, cb.User.ID, meta.Run, false, reason, meta.Message) })
		w.WriteHeader(http.StatusOK) // closes the dialog
	default:
		w.WriteHeader(http.StatusOK)
	}
}

func (h *Interactions) verified(hdr http.Header, body []byte) bool {
	if h.SigningSecret == "" {
		return false
	}
	v, err := slack.NewSecretsVerifier(hdr, h.SigningSecret)
	if err != nil {
		return false
	}
	if _, err := v.Write(body); err != nil {
		return false
	}
	return v.Ensure() == nil
}

// ParseInteraction reads the form-encoded `payload` of an interaction.
func ParseInteraction(body []byte) (*slack.InteractionCallback, error) {
	form, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	raw := form.Get("payload")
	if raw == "" {
		return nil, errors.New("no payload field")
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(raw), &cb); err != nil {
		return nil, fmt.Errorf("payload is not valid JSON: %w", err)
	}
	if cb.User.ID == "" {
		return nil, errors.New("payload has no user")
	}
	return &cb, nil
}

func (h *Interactions) async(fn func(ctx context.Context)) {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		fn(ctx)
		if h.done != nil {
			h.done()
		}
	}()
}

type msgRef struct {
	Channel string `json:"c"`
	TS      string `json:"t"`
}

type rejectMeta struct {
	Run     string `json:"run"`
	Message msgRef `json:"msg"`
}

func messageOf(cb *slack.InteractionCallback) msgRef {
	m := msgRef{Channel: cb.Container.ChannelID, TS: cb.Container.MessageTs}
	if m.Channel == "" {
		m.Channel = cb.Channel.ID
	}
	if m.TS == "" {
		m.TS = cb.Message.Timestamp
	}
	return m
}

func (h *Interactions) openRejectDialog(ctx context.Context, cb *slack.InteractionCallback, run string) {
	meta, _ := json.Marshal(rejectMeta{Run: run, Message: messageOf(cb)})
	input := slack.NewPlainTextInputBlockElement(slack.NewTextBlockObject(slack.PlainTextType, "What is wrong with this release?", false, false), inputReason)
	input.Multiline = true
	view := slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      ViewReject,
		PrivateMetadata: string(meta),
		Title:           slack.NewTextBlockObject(slack.PlainTextType, "Reject release", false, false),
		Submit:          slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false),
		Close:           slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock(blockReason, slack.NewTextBlockObject(slack.PlainTextType, "Reason", false, false), nil, input),
		}},
	}
	if _, err := h.Slack.API.OpenViewContext(ctx, cb.TriggerID, view); err != nil {
		h.Log.Error("open reject dialog", "error", err)
	}
}

// decide applies a click and edits the approval message to show its
// outcome: who decided, or why the click was refused.
func (h *Interactions) decide(ctx context.Context, user, run string, approve bool, reason string, msg msgRef) {
	ref, err := runs.ParseRef(run)
	if err != nil {
		h.Log.Warn("slack click with a bad run id", "user", user)
		return
	}
	// the message was posted for this run (its id is in the button): the
	// run, and so its commit, is what the approver saw
	res, err := h.Runs.Decide(ctx, ref, "", approve, workflows.Decision{User: user, Comment: reason, Via: "slack"})
	var note string
	switch {
	case errors.Is(err, runs.ErrRefused):
		note = fmt.Sprintf("⚠ %s cannot decide: %s", mention(user), strings.TrimPrefix(err.Error(), runs.ErrRefused.Error()+": "))
	case err != nil:
		h.Log.Error("slack decision failed", "run", run, "user", user, "error", err)
		note = fmt.Sprintf("⚠ %s's decision could not be recorded; try again or use the CLI", mention(user))
	case !approve:
		note = fmt.Sprintf("❌ Rejected by %s: %s", mention(user), reason)
	case res.Status == workflows.ApprovalApproved:
		note = fmt.Sprintf("✅ Approved by %s", mentionAll(res.Approvals))
	default:
		note = fmt.Sprintf("👍 %s approved; %d more approval(s) needed", mention(user), res.Remaining)
	}
	h.Log.Info("slack decision", "run", run, "user", user, "approve", approve, "outcome", note)
	if msg.TS == "" {
		return
	}
	if err := h.annotate(ctx, msg, note, err == nil && (!approve || res.Status == workflows.ApprovalApproved)); err != nil {
		h.Log.Error("edit approval message", "run", run, "error", err)
	}
}

// annotate appends a context line to the approval message; closed removes
// the buttons.
func (h *Interactions) annotate(ctx context.Context, msg msgRef, note string, closed bool) error {
	hist, err := h.Slack.API.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
		ChannelID: msg.Channel, Latest: msg.TS, Oldest: msg.TS, Inclusive: true, Limit: 1})
	var blocks []slack.Block
	if err == nil && len(hist.Messages) == 1 {
		for _, b := range hist.Messages[0].Blocks.BlockSet {
			if closed && b.BlockType() == slack.MBTAction {
				continue
			}
			blocks = append(blocks, b)
		}
	}
	blocks = append(blocks, slack.NewContextBlock("", md(note)))
	_, _, _, err = h.Slack.API.UpdateMessageContext(ctx, msg.Channel, msg.TS, slack.MsgOptionText(note, false), slack.MsgOptionBlocks(blocks...))
	return err
}
