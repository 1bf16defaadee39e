package chat

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/testenv/pgtest"
)

// TestReplayRefusedByAnotherReplica: two servers with their own data dirs
// and one records database (PostgreSQL): a click one of them handled,
// captured and sent to the other within Slack's window, is refused (409),
// and so it is by a replica started after it.
func TestReplayRefusedByAnotherReplica(t *testing.T) {
	pg := pgtest.Start(t)
	store := func() *records.Store {
		s, err := records.Open(context.Background(), pg.URL("postgres"), pg.Password)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := newSlackStack(t, store())
	b := newSlackStack(t, store())
	ref := a.start()
	a.approvalMessage()
	body := click("U0ALICE", ActionApprove, ref.String())
	h := sign(body, time.Now(), signingSecret)
	if code := a.post(h, body); code != http.StatusOK {
		t.Fatalf("the click: %d", code)
	}
	a.handled(1)
	if code := b.post(h, body); code != http.StatusConflict {
		t.Fatalf("the click replayed to another replica: %d %v, want 409", code, b.resp)
	}
	c := newSlackStack(t, store())
	if code := c.post(h, body); code != http.StatusConflict {
		t.Fatalf("the click replayed to a replica started since: %d, want 409", code)
	}
}

// TestReplayRecordUnwritable: a click that cannot be recorded against
// replays is not handled (503), so it can never be handled twice.
func TestReplayRecordUnwritable(t *testing.T) {
	pg := pgtest.Start(t)
	s, err := records.Open(context.Background(), pg.URL("postgres"), pg.Password)
	if err != nil {
		t.Fatal(err)
	}
	st := newSlackStack(t, s)
	ref := st.start()
	st.approvalMessage()
	pg.Stop()
	body := click("U0ALICE", ActionApprove, ref.String())
	if code := st.post(sign(body, time.Now(), signingSecret), body); code != http.StatusServiceUnavailable {
		t.Fatalf("a click with its replay record down: %d, want 503", code)
	}
}
