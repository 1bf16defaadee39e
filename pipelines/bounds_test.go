package pipelines

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAliasAmplificationRefused: a mapping anchored once and aliased by
// every service expands a few kilobytes into hundreds of thousands of
// values in every run's history; the parser refuses the file at the
// alias that crosses the bound, and still accepts a spec that uses an
// alias or two.
func TestAliasAmplificationRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nbuild:\n  commands: [make]\n  env: &big\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "    K%d: %s\n", i, strings.Repeat("v", 40))
	}
	b.WriteString("environments:\n  test:\n    services:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "      - {name: s%d, image: i, env: *big}\n", i)
	}
	_, err := Parse(".sluice.yml", []byte(b.String()), "hello")
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("a %d-byte spec expanding to 200,000 values was not refused for it: %v", b.Len(), err)
	}
	if !strings.Contains(err.Error(), ".sluice.yml:") || strings.Count(err.Error(), "expands to more than") != 1 {
		t.Errorf("want one located problem: %v", err)
	}
	ok := "version: 1\nbuild:\n  commands: &cmds [make, make test]\ntest:\n  commands: *cmds\n"
	if _, err := Parse(".sluice.yml", []byte(ok), "hello"); err != nil {
		t.Errorf("a spec with one alias was refused: %v", err)
	}
}

// TestDurationsBounded: a duration past MaxDuration (or one that would
// overflow) is refused with its line, not accepted as centuries.
func TestDurationsBounded(t *testing.T) {
	for _, v := range []string{"300000d", "9999999999h", "400d"} {
		spec := "version: 1\nbuild:\n  commands: [make]\n  timeout: " + v + "\n"
		_, err := Parse(".sluice.yml", []byte(spec), "hello")
		if err == nil || !strings.Contains(err.Error(), ".sluice.yml:4:") {
			t.Errorf("timeout %s: %v", v, err)
		}
	}
	if d, err := ParseDuration("365d"); err != nil || time.Duration(d) != 365*24*time.Hour {
		t.Errorf("365d: %v %v", d, err)
	}
}
