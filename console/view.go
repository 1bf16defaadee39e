package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// timeline is a run's phases as bars on one time axis, drawn as SVG (its
// attributes, unlike inline styles, pass the pages' Content Security
// Policy) beside a table that says the same in words.
type timeline struct {
	Bars []bar
	// Height is the drawing's height in its own units.
	Height int
	Total  string
}

type bar struct {
	Name, Status, Detail string
	Duration             string
	// X, Width and Y place the bar on a 1000-unit-wide axis.
	X, Width, Y int
}

const barHeight = 26

// timelineOf lays out the phase events of a run that started at started
// (and finished at finished, or is still running at now).
func timelineOf(events []contract.RecordEvent, started, finished, now time.Time) timeline {
	end := finished
	if end.IsZero() {
		end = now
	}
	var phases []contract.RecordEvent
	for _, e := range events {
		if e.Kind == contract.EventPhase {
			phases = append(phases, e)
		}
	}
	span := end.Sub(started)
	if span <= 0 {
		span = time.Second
	}
	t := timeline{Height: max(len(phases), 1) * barHeight, Total: round(end.Sub(started))}
	for i, p := range phases {
		b := bar{Name: p.Name, Status: p.Status, Detail: p.Detail, Y: i * barHeight}
		if !p.At.IsZero() {
			stop := p.Finished
			if stop.IsZero() {
				stop = end
			}
			b.X = int(1000 * p.At.Sub(started) / span)
			b.Width = max(int(1000*stop.Sub(p.At)/span), 4)
			b.X = min(max(b.X, 0), 996)
			b.Width = min(b.Width, 1000-b.X)
			b.Duration = round(stop.Sub(p.At))
		}
		t.Bars = append(t.Bars, b)
	}
	return t
}

// round is a duration as people read it.
func round(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"words": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"took": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return "—"
		}
		return round(b.Sub(a))
	},
	"dur":     func(d time.Duration) string { return round(d) },
	"percent": func(f float64) string { return fmt.Sprintf("%.0f %%", 100*f) },
	"perday":  func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"add":     func(a, b int) int { return a + b },
	"list": func() []string {
		return []string{"running", "succeeded", "failed", "cancelled", "rejected", "timed_out", "terminated"}
	},
}
