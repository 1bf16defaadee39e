package contract

import (
	"fmt"
	"time"

	// the zones freeze windows name come with the binary: a workflow
	// computing them must not depend on a worker's system files
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// Freeze is when a production release may happen, from the project's
// policy: never inside a deny window; when allow windows are given, only
// inside one of them. Deny wins.
type Freeze struct {
	// TimeZone is the IANA zone cron windows are read in; empty: UTC.
	TimeZone string   `json:"timezone,omitempty"`
	Deny     []Window `json:"deny,omitempty"`
	Allow    []Window `json:"allow,omitempty"`
	// Fail makes a release that meets a closed window fail at once
	// instead of waiting until the window opens.
	Fail bool `json:"fail,omitempty"`
}

// Window is a span of time: recurring, from each time a cron expression
// names (five fields) for Duration; or once, From until Until.
type Window struct {
	Name     string        `json:"name"`
	Cron     string        `json:"cron,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	From     time.Time     `json:"from,omitzero"`
	Until    time.Time     `json:"until,omitzero"`
}

// MaxFreezeWait bounds how far ahead OpenAt looks for an open moment.
const MaxFreezeWait = 366 * 24 * time.Hour

// Check says what is wrong with a window, naming its field.
func (w Window) Check() error {
	switch {
	case w.Name == "":
		return fmt.Errorf("name: required")
	case w.Cron != "" && !w.From.IsZero():
		return fmt.Errorf("give cron and duration, or from and until, not both")
	case w.Cron != "":
		if _, err := cron.ParseStandard(w.Cron); err != nil {
			return fmt.Errorf("cron %q: %w (five fields: minute hour day-of-month month day-of-week)", w.Cron, err)
		}
		if w.Duration <= 0 || w.Duration > MaxFreezeWait {
			return fmt.Errorf("duration: between 1s and 366d")
		}
	case w.From.IsZero() || w.Until.IsZero():
		return fmt.Errorf("give cron and duration, or from and until")
	case !w.Until.After(w.From):
		return fmt.Errorf("until is not after from")
	}
	return nil
}

// on is the end of w's span that holds t, if one does.
func (w Window) on(t time.Time, loc *time.Location) (time.Time, bool) {
	if w.Cron == "" {
		return w.Until, !t.Before(w.From) && t.Before(w.Until)
	}
	sched, err := cron.ParseStandard(w.Cron)
	if err != nil {
		return time.Time{}, false
	}
	// every start within Duration before t; the latest end wins
	var end time.Time
	for s, n := sched.Next(t.In(loc).Add(-w.Duration-time.Second)), 0; !s.After(t) && n < 100_000; s, n = sched.Next(s), n+1 {
		if e := s.Add(w.Duration); e.After(t) && e.After(end) {
			end = e
		}
	}
	return end, !end.IsZero()
}

// next is w's first start after t (zero: none).
func (w Window) next(t time.Time, loc *time.Location) time.Time {
	if w.Cron == "" {
		if w.From.After(t) {
			return w.From
		}
		return time.Time{}
	}
	sched, err := cron.ParseStandard(w.Cron)
	if err != nil {
		return time.Time{}
	}
	return sched.Next(t.In(loc))
}

// Location is the freeze's time zone (UTC when empty or unknown).
func (f *Freeze) Location() *time.Location {
	if f.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(f.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// OpenAt is the first moment at or after now when a release may happen,
// and why it may not before then ("" when now is open). A freeze that
// stays closed for MaxFreezeWait is an error.
func (f *Freeze) OpenAt(now time.Time) (time.Time, string, error) {
	if f == nil {
		return now, "", nil
	}
	loc := f.Location()
	t, why := now, ""
	for range 1000 {
		if t.Sub(now) > MaxFreezeWait {
			break
		}
		var end time.Time
		var closed string
		for _, w := range f.Deny {
			if e, ok := w.on(t, loc); ok && e.After(end) {
				end, closed = e, "deny window "+w.Name
			}
		}
		if !end.IsZero() {
			t, why = end, firstOf(why, closed)
			continue
		}
		if len(f.Allow) == 0 {
			return t, why, nil
		}
		var start time.Time
		for _, w := range f.Allow {
			if _, ok := w.on(t, loc); ok {
				return t, why, nil
			}
			if s := w.next(t, loc); !s.IsZero() && (start.IsZero() || s.Before(start)) {
				start = s
			}
		}
		if start.IsZero() {
			break
		}
		t, why = start, firstOf(why, "outside the allow windows")
	}
	return time.Time{}, why, fmt.Errorf("production stays frozen for more than %s (%s)", MaxFreezeWait, why)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
