package contract

import (
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestFreezeOpenAt: deny windows (a weekly one in Berlin time, a one-off),
// allow windows, deny winning over allow, and a freeze that never opens.
func TestFreezeOpenAt(t *testing.T) {
	weekend := Window{Name: "weekend", Cron: "0 18 * * 5", Duration: 62 * time.Hour} // Fri 18:00 to Mon 08:00
	office := Window{Name: "office", Cron: "0 9 * * 1-5", Duration: 8 * time.Hour}   // 09:00 to 17:00 on weekdays
	holidays := Window{Name: "holidays", From: at("2026-12-24T00:00:00+01:00"), Until: at("2026-12-27T00:00:00+01:00")}
	f := &Freeze{TimeZone: "Europe/Berlin", Deny: []Window{weekend, holidays}, Allow: []Window{office}}
	for _, c := range []struct {
		now, open, why string
	}{
		{"2026-12-02T10:00:00+01:00", "2026-12-02T10:00:00+01:00", ""},                          // Wednesday, office hours
		{"2026-12-02T18:30:00+01:00", "2026-12-03T09:00:00+01:00", "outside the allow windows"}, // Wednesday evening
		{"2026-12-04T19:00:00+01:00", "2026-12-07T09:00:00+01:00", "deny window weekend"},       // Friday evening: Monday 08:00, then office at 09:00
		{"2026-12-24T11:00:00+01:00", "2026-12-28T09:00:00+01:00", "deny window holidays"},      // holidays, then the weekend, then Monday
		{"2026-12-04T17:30:00Z", "2026-12-07T09:00:00+01:00", "deny window weekend"},            // 18:30 in Berlin
	} {
		open, why, err := f.OpenAt(at(c.now))
		if err != nil || !open.Equal(at(c.open)) || why != c.why {
			t.Errorf("at %s: open %s %q %v, want %s %q", c.now, open, why, err, c.open, c.why)
		}
	}
	never := &Freeze{Deny: []Window{{Name: "always", Cron: "* * * * *", Duration: time.Hour}}}
	if _, _, err := never.OpenAt(at("2026-12-02T10:00:00Z")); err == nil || !strings.Contains(err.Error(), "frozen for more than") {
		t.Errorf("a freeze that never opens: %v", err)
	}
	var none *Freeze
	if open, why, err := none.OpenAt(at("2026-12-02T10:00:00Z")); err != nil || why != "" || !open.Equal(at("2026-12-02T10:00:00Z")) {
		t.Errorf("no freeze: %s %q %v", open, why, err)
	}
}

func TestWindowCheck(t *testing.T) {
	for w, want := range map[*Window]string{
		{Name: "x", Cron: "0 18 * *", Duration: time.Hour}:                               "five fields",
		{Name: "x", Cron: "0 18 * * 5"}:                                                  "duration",
		{Name: "x", From: at("2026-12-02T10:00:00Z"), Until: at("2026-12-01T10:00:00Z")}: "until is not after from",
		{Name: "x"}: "give cron and duration, or from and until",
		{Cron: "0 18 * * 5", Duration: time.Hour}: "name",
	} {
		if err := w.Check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", *w, err, want)
		}
	}
}
