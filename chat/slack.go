// Package chat connects runs to people in Slack (or a Slack-compatible
// server): approval messages with Approve and Reject buttons, their edits,
// reminders, results, and the signed interaction endpoint the buttons call.
package chat

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/sluice-cd/sluice/attempt"
	"github.com/sluice-cd/sluice/contract"
)

// Action ids of the approval buttons and the rejection dialog.
const (
	ActionApprove = "sluice_approve"
	ActionReject  = "sluice_reject"
	ViewReject    = "sluice_reject_reason"
	blockReason   = "reason"
	inputReason   = "reason_input"
)

// Slack posts notices with the Web API. It is the worker's chat (activities.Chat).
type Slack struct {
	API *slack.Client
	// Channel is the default channel; an approval's own channel wins.
	Channel string
	// UIURL is the Temporal Web UI base, for links. Namespace defaults to "default".
	UIURL     string
	Namespace string
}

// NewSlack returns an adapter for the bot token; apiURL may point at a
// Slack-compatible server (empty means Slack).
func NewSlack(token, apiURL, channel, uiURL string) *Slack {
	var opts []slack.Option
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return &Slack{API: slack.New(token, opts...), Channel: channel, UIURL: uiURL}
}

// RunRef is the run id the buttons carry: "<workflow id>@<run id>".
func RunRef(n contract.Notice) string { return n.WorkflowID + "@" + n.RunID }

func (s *Slack) link(n contract.Notice) string {
	return contract.RunLink(s.UIURL, s.Namespace, n.WorkflowID, n.RunID)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func md(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, false)
}

// header describes the change being released.
func (s *Slack) header(n contract.Notice, status string) []slack.Block {
	fields := []*slack.TextBlockObject{
		md("*Commit*\n`" + short(n.Commit) + "` by " + n.Author),
		md("*Branch*\n`" + n.Branch + "`"),
	}
	if n.Digest != "" {
		fields = append(fields, md("*Image*\n`"+n.Digest+"`"))
	}
	if n.Environment != "" {
		fields = append(fields, md("*Test environment*\n`"+n.Environment+"`"))
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(md(fmt.Sprintf("*%s* · %s", n.Repo, status)), fields, nil),
	}
	ctx := []slack.MixedElement{md(fmt.Sprintf("<%s|Temporal UI>", s.link(n)))}
	if n.Phases != "" {
		ctx = append(ctx, md(n.Phases))
	}
	return append(blocks, slack.NewContextBlock("", ctx...))
}

// approvalBlocks is the approval message: the change, then the buttons.
func (s *Slack) approvalBlocks(n contract.Notice) []slack.Block {
	ref := RunRef(n)
	blocks := s.header(n, fmt.Sprintf("waiting for approval from %s (expires %s)", mentionAll(n.Approvers), n.ExpiresAt.UTC().Format(time.RFC1123)))
	approve := slack.NewButtonBlockElement(ActionApprove, ref, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false))
	approve.Style = slack.StylePrimary
	reject := slack.NewButtonBlockElement(ActionReject, ref, slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false))
	reject.Style = slack.StyleDanger
	return append(blocks, slack.NewActionBlock("decide", approve, reject))
}

// decidedBlocks replaces the buttons with the outcome.
func (s *Slack) decidedBlocks(n contract.Notice, outcome string) []slack.Block {
	return append(s.header(n, outcome), slack.NewContextBlock("", md(outcome)))
}

func mentionAll(users []string) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = mention(u)
	}
	return strings.Join(out, ", ")
}

// mention renders a Slack user id as a mention and anything else as
// escaped text.
func mention(u string) string {
	if slackUserID.MatchString(u) {
		return "<@" + u + ">"
	}
	return escape(u)
}

var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// escape makes user-controlled text inert in Slack's mrkdwn: no mentions
// (<!channel>), links or user references can be smuggled in.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// escaped returns the notice with every field a pusher, spec or approver
// controls escaped for mrkdwn.
func escaped(n contract.Notice) contract.Notice {
	n.Repo, n.Branch, n.Commit, n.Author, n.Text, n.Phase, n.Environment, n.Phases =
		escape(n.Repo), escape(n.Branch), escape(n.Commit), escape(n.Author), escape(n.Text), escape(n.Phase), escape(n.Environment), escape(n.Phases)
	return n
}

// Post posts or edits the message of notice n.
func (s *Slack) Post(ctx context.Context, n contract.Notice) (contract.MessageRef, error) {
	n = escaped(n)
	channel := n.Channel
	if channel == "" {
		channel = s.Channel
	}
	switch n.Kind {
	case contract.NoticeApprovalRequested:
		ref, err := s.postOnce(ctx, channel, n,
			slack.MsgOptionText(fmt.Sprintf("%s %s@%s is waiting for approval", n.Repo, n.Branch, short(n.Commit)), false),
			slack.MsgOptionBlocks(s.approvalBlocks(n)...))
		if err != nil {
			return contract.MessageRef{}, fmt.Errorf("post approval message: %w", err)
		}
		return ref, nil
	case contract.NoticeApprovalReminder:
		opts := []slack.MsgOption{slack.MsgOptionText(fmt.Sprintf("Reminder: %s %s@%s still waits for approval from %s; it expires %s.",
			n.Repo, n.Branch, short(n.Commit), mentionAll(n.Approvers), n.ExpiresAt.UTC().Format(time.RFC1123)), false)}
		if n.Message.TS != "" {
			channel = n.Message.Channel
			opts = append(opts, slack.MsgOptionTS(n.Message.TS))
		}
		_, _, err := s.API.PostMessageContext(ctx, channel, opts...)
		return n.Message, err
	case contract.NoticeApprovalDecided, contract.NoticeApprovalExpired:
		outcome := "Approval " + n.Text
		if n.Kind == contract.NoticeApprovalExpired {
			outcome = "⌛ Approval expired: " + n.Text
		}
		if n.Message.TS == "" {
			_, err := s.postOnce(ctx, channel, n, slack.MsgOptionText(outcome, false))
			return n.Message, err
		}
		_, _, _, err := s.API.UpdateMessageContext(ctx, n.Message.Channel, n.Message.TS,
			slack.MsgOptionText(outcome, false), slack.MsgOptionBlocks(s.decidedBlocks(n, outcome)...))
		return n.Message, err
	case contract.NoticeProductionFrozen:
		text := fmt.Sprintf("🧊 %s %s@%s: production %s", n.Repo, n.Branch, short(n.Commit), n.Text)
		_, err := s.postOnce(ctx, channel, n, slack.MsgOptionText(text, false))
		return n.Message, err
	case contract.NoticeRunFinished:
		text := fmt.Sprintf("%s %s@%s: %s", n.Repo, n.Branch, short(n.Commit), n.Text)
		_, err := s.postOnce(ctx, channel, n, slack.MsgOptionText(text, false),
			slack.MsgOptionBlocks(s.header(n, n.Text)...))
		return n.Message, err
	}
	return n.Message, nil
}

// noticeEvent is the metadata event type of the messages Sluice posts; the
// payload's "key" names the run and the notice.
const noticeEvent = "sluice_notice"

func noticeKey(n contract.Notice) string { return RunRef(n) + "/" + string(n.Kind) }

// postOnce posts a top-level message tagged with the notice's key. A
// retried activity first looks for a message with that key in the channel:
// its first attempt may have posted it and died before Temporal heard, and
// a second approval message would confuse everyone. A failed lookup (a bot
// without channels:read or channels:history) falls back to posting: a
// duplicate is better than no message.
func (s *Slack) postOnce(ctx context.Context, channel string, n contract.Notice, opts ...slack.MsgOption) (contract.MessageRef, error) {
	key := noticeKey(n)
	if attempt.Retried(ctx) {
		ref, found, err := s.posted(ctx, channel, key)
		if err == nil && found {
			return ref, nil
		}
		if err != nil {
			attempt.Logger(ctx).Warn("cannot look for the message an earlier attempt may have posted (the bot needs channels:read and channels:history); posting it", "channel", channel, "error", err)
		}
	}
	opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{EventType: noticeEvent, EventPayload: map[string]any{"key": key}}))
	ch, ts, err := s.API.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return contract.MessageRef{}, err
	}
	return contract.MessageRef{Channel: ch, TS: ts}, nil
}

// posted finds the message tagged key among the channel's newest 200.
func (s *Slack) posted(ctx context.Context, channel, key string) (contract.MessageRef, bool, error) {
	id, err := s.channelID(ctx, channel)
	if err != nil {
		return contract.MessageRef{}, false, err
	}
	h, err := s.API.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: id, Limit: 200, IncludeAllMetadata: true})
	if err != nil {
		return contract.MessageRef{}, false, err
	}
	for _, m := range h.Messages {
		if m.Metadata.EventType == noticeEvent && m.Metadata.EventPayload["key"] == key {
			return contract.MessageRef{Channel: id, TS: m.Timestamp}, true, nil
		}
	}
	return contract.MessageRef{}, false, nil
}

// channelID turns "#name" (or "name") into the channel's id; an id is kept.
func (s *Slack) channelID(ctx context.Context, channel string) (string, error) {
	name, named := strings.CutPrefix(channel, "#")
	if !named && channelIDPattern.MatchString(channel) {
		return channel, nil
	}
	cursor := ""
	for {
		chans, next, err := s.API.GetConversationsContext(ctx, &slack.GetConversationsParameters{
			Cursor: cursor, Limit: 200, ExcludeArchived: true, Types: []string{"public_channel", "private_channel"}})
		if err != nil {
			return "", err
		}
		for _, c := range chans {
			if c.Name == name {
				return c.ID, nil
			}
		}
		if next == "" {
			return "", fmt.Errorf("channel %s not found", channel)
		}
		cursor = next
	}
}

var channelIDPattern = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)

// Webhook posts notices as plain text to an incoming webhook. Mattermost
// and Rocket.Chat accept Slack's format, so notifications reach them too;
// approvals there are given with the CLI.
type Webhook struct{ URL string }

// Post sends the notice n to the incoming webhook (it cannot edit what it sent).
func (w *Webhook) Post(ctx context.Context, n contract.Notice) (contract.MessageRef, error) {
	n = escaped(n)
	var text string
	switch n.Kind {
	case contract.NoticeApprovalRequested:
		text = fmt.Sprintf("%s %s@%s waits for approval from %s: sluice approve %s", n.Repo, n.Branch, short(n.Commit), strings.Join(n.Approvers, ", "), RunRef(n))
	case contract.NoticeApprovalReminder:
		text = fmt.Sprintf("Reminder: %s %s@%s still waits for approval (expires %s)", n.Repo, n.Branch, short(n.Commit), n.ExpiresAt.UTC().Format(time.RFC1123))
	default:
		text = fmt.Sprintf("%s %s@%s: %s", n.Repo, n.Branch, short(n.Commit), n.Text)
	}
	if err := slack.PostWebhookContext(ctx, w.URL, &slack.WebhookMessage{Text: text}); err != nil {
		return contract.MessageRef{}, fmt.Errorf("post to incoming webhook: %w", withoutURL(err))
	}
	return contract.MessageRef{}, nil
}

// withoutURL strips the webhook URL (a secret) from an error's text.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
