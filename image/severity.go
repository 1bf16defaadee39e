package image

import (
	"fmt"
	"math"
	"strings"
)

// Severity ranks a vulnerability as CVSS v3 ratings do. Unknown (a
// database entry with neither a rating nor a CVSS v3 vector, as Go's and
// Debian's entries often are) ranks above critical: a scan gate cannot
// tell it is harmless.
type Severity int

const (
	SeverityNone Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
	SeverityUnknown
)

var severityNames = []string{"none", "low", "medium", "high", "critical", "unknown"}

func (s Severity) String() string { return severityNames[s] }

// ParseSeverity reads a rating: none, low, medium (or moderate, GitHub's
// word), high, critical, in any case.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none":
		return SeverityNone, nil
	case "low":
		return SeverityLow, nil
	case "medium", "moderate":
		return SeverityMedium, nil
	case "high":
		return SeverityHigh, nil
	case "critical":
		return SeverityCritical, nil
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q (none, low, medium, high, critical)", s)
}

// cvss3Rating is the rating of a CVSS v3.0/v3.1 base score.
func cvss3Rating(score float64) Severity {
	switch {
	case score == 0:
		return SeverityNone
	case score < 4:
		return SeverityLow
	case score < 7:
		return SeverityMedium
	case score < 9:
		return SeverityHigh
	}
	return SeverityCritical
}

// cvss3Score computes the base score of a CVSS v3 vector
// (CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H is 9.8) with the
// specification's formulas.
func cvss3Score(vector string) (float64, error) {
	parts := strings.Split(vector, "/")
	if len(parts) < 9 || !strings.HasPrefix(parts[0], "CVSS:3.") {
		return 0, fmt.Errorf("not a CVSS v3 vector: %q", vector)
	}
	m := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok {
			return 0, fmt.Errorf("CVSS vector %q: bad metric %q", vector, p)
		}
		m[k] = v
	}
	changed := m["S"] == "C"
	weights := map[string]map[string]float64{
		"AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
		"AC": {"L": 0.77, "H": 0.44},
		"PR": {"N": 0.85, "L": 0.62, "H": 0.27},
		"UI": {"N": 0.85, "R": 0.62},
		"C":  {"H": 0.56, "L": 0.22, "N": 0},
		"I":  {"H": 0.56, "L": 0.22, "N": 0},
		"A":  {"H": 0.56, "L": 0.22, "N": 0},
	}
	if changed {
		weights["PR"]["L"], weights["PR"]["H"] = 0.68, 0.5
	}
	w := map[string]float64{}
	for k, table := range weights {
		v, ok := table[m[k]]
		if !ok {
			return 0, fmt.Errorf("CVSS vector %q: metric %s is %q", vector, k, m[k])
		}
		w[k] = v
	}
	if s := m["S"]; s != "U" && s != "C" {
		return 0, fmt.Errorf("CVSS vector %q: scope is %q", vector, s)
	}
	iss := 1 - (1-w["C"])*(1-w["I"])*(1-w["A"])
	impact := 6.42 * iss
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	}
	exploitability := 8.22 * w["AV"] * w["AC"] * w["PR"] * w["UI"]
	if impact <= 0 {
		return 0, nil
	}
	if changed {
		return roundUp(math.Min(1.08*(impact+exploitability), 10)), nil
	}
	return roundUp(math.Min(impact+exploitability, 10)), nil
}

// roundUp is CVSS 3.1's Roundup: the smallest number of one decimal place
// not below x, computed on integers to avoid floating-point surprises.
func roundUp(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

// MarshalText writes the rating's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a rating's name ("unknown" included).
func (s *Severity) UnmarshalText(b []byte) error {
	if string(b) == "unknown" {
		*s = SeverityUnknown
		return nil
	}
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}
