package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/logstore"
)

// Chat posts notices to people. Implementations are safe for concurrent use.
// Post returns a reference to the message it posted or edited, so later
// notices about the same approval can edit it or reply under it.
type Chat interface {
	Post(ctx context.Context, n contract.Notice) (contract.MessageRef, error)
}

// Notify records notices in the run's log and, when configured, in chat.
type Notify struct {
	Logs *logstore.Store
	Chat Chat
	// Finished, when set, counts finished runs by repository and state
	// (once: on the notice's first attempt).
	Finished *prometheus.CounterVec
}

// Send delivers one notice. The log line is written first, so the log has
// it even when chat is down (the workflow ignores a failed Send).
func (n *Notify) Send(ctx context.Context, in contract.Notice) (_ contract.MessageRef, err error) {
	defer classify(&err)
	if err := n.Logs.Append(in.RunID, "sluice", noticeText(in)); err != nil {
		return contract.MessageRef{}, fmt.Errorf("log notice: %w", err)
	}
	if n.Finished != nil && in.Kind == contract.NoticeRunFinished && (!activity.IsActivity(ctx) || activity.GetInfo(ctx).Attempt == 1) {
		n.Finished.WithLabelValues(in.Repo, in.State).Inc()
	}
	if n.Chat == nil {
		return contract.MessageRef{}, nil
	}
	return n.Chat.Post(ctx, in)
}

func noticeText(in contract.Notice) string {
	switch in.Kind {
	case contract.NoticeApprovalRequested:
		return fmt.Sprintf("approval requested from %s (expires %s); approve with: sluice approve RUN (your API token says who you are)",
			strings.Join(in.Approvers, ", "), in.ExpiresAt.UTC().Format(time.RFC3339))
	case contract.NoticeApprovalReminder:
		return fmt.Sprintf("approval still pending (%s); expires %s", in.Text, in.ExpiresAt.UTC().Format(time.RFC3339))
	case contract.NoticeApprovalDecided:
		return "approval " + in.Text
	case contract.NoticeApprovalExpired:
		return "approval expired: " + in.Text
	case contract.NoticeRunFinished:
		return logstore.EndOfLog + in.Text
	case contract.NoticeProductionFrozen:
		return "production " + in.Text
	}
	return in.Kind + ": " + in.Text
}
