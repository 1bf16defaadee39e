package pipelines

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "90s", "10m", "1h30m" or "3d" in the
// spec and as the same string in JSON.
type Duration time.Duration

// D returns the standard library duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration compactly (72h, 10m, 1h30m).
func (d Duration) String() string {
	t := time.Duration(d)
	if t%time.Second != 0 || t < time.Second {
		return t.String()
	}
	var b strings.Builder
	if h := t / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := (t % time.Hour) / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s := (t % time.Minute) / time.Second; s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// ParseDuration accepts Go durations plus a whole-day suffix "d".
// Durations above MaxDuration are refused (and so never overflow).
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		if n > int(MaxDuration/Duration(24*time.Hour)) {
			return 0, fmt.Errorf("duration %q is more than %s", s, maxDurationText)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	if Duration(d) > MaxDuration {
		return 0, fmt.Errorf("duration %q is more than %s", s, maxDurationText)
	}
	return Duration(d), nil
}

// MaxDuration is the longest duration a spec may give (a timeout, an
// approval's wait, a test environment's life): a year.
const (
	MaxDuration     = Duration(366 * 24 * time.Hour)
	maxDurationText = "366d (a year)"
)

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string (or nanoseconds as a number).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration must be a string like \"10m\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	// unbounded: a history recorded before MaxDuration must still replay
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			*d = Duration(time.Duration(n) * 24 * time.Hour)
			return nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a duration as the spec writes it ("72h", "3d"), for
// files decoded with yaml.v3 (the server configuration).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}
